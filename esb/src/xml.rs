//! A bounded XML reader for SOAP envelopes: quick-xml's namespace-resolving reader builds a
//! small element tree, refusing what a bus must never process (a DOCTYPE, and with it every
//! entity declaration and "billion laughs"; unknown entity references; nesting deeper, or
//! more elements, than any SHEP message needs). Nothing here recurses on the input's depth,
//! so a hostile document costs at most its own size plus the tree's bounded node count.

use std::ops::Range;
use std::rc::Rc;

use quick_xml::events::Event;
use quick_xml::name::{PrefixDeclaration, ResolveResult};
use quick_xml::reader::NsReader;

/// The limits a document must keep.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for Limits {
    /// SHEP envelopes nest about ten levels (Envelope, Body, operation, request, info, sender
    /// ...); business payloads under `data` add their own, so 128 leaves room without letting
    /// a hostile document through.
    fn default() -> Self {
        Limits {
            max_depth: 128,
            max_elements: 200_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlError {
    /// Not well-formed XML; the position is a byte offset.
    Malformed {
        at: u64,
        message: String,
    },
    /// A document type declaration: entity declarations are never processed.
    Doctype,
    TooDeep {
        limit: usize,
    },
    TooManyElements {
        limit: usize,
    },
    /// A prefix used but never declared.
    UnboundPrefix {
        prefix: String,
    },
    /// An entity reference other than the five XML predefines and character references.
    UnknownEntity {
        name: String,
    },
    /// No root element.
    Empty,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XmlError::Malformed { at, message } => {
                write!(f, "not well-formed XML at byte {at}: {message}")
            }
            XmlError::Doctype => write!(
                f,
                "a document type declaration (DOCTYPE) is not accepted: SOAP messages carry none, and entity declarations are never expanded"
            ),
            XmlError::TooDeep { limit } => {
                write!(f, "elements nest deeper than {limit} levels")
            }
            XmlError::TooManyElements { limit } => {
                write!(f, "the document holds more than {limit} elements")
            }
            XmlError::UnboundPrefix { prefix } => {
                write!(f, "namespace prefix `{prefix}` is used but never declared")
            }
            XmlError::UnknownEntity { name } => write!(
                f,
                "entity reference `&{name};` is not one of XML's predefined entities"
            ),
            XmlError::Empty => write!(f, "the document has no root element"),
        }
    }
}

impl std::error::Error for XmlError {}

/// Namespace bindings in scope at an element: (prefix, uri); prefix "" is the default one.
pub type Scope = Rc<Vec<(String, String)>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The namespace URI; `None` when unqualified.
    pub ns: Option<String>,
    pub name: String,
    /// Attributes other than namespace declarations: (namespace, local name, value).
    pub attrs: Vec<(Option<String>, String, String)>,
    pub children: Vec<Element>,
    /// The element's own character data (text and CDATA directly inside it), concatenated.
    pub text: String,
    /// Byte range of the whole element in the source, start tag to end tag.
    pub span: Range<usize>,
    /// Byte range of the element's content (between its start and end tags).
    pub inner: Range<usize>,
    /// The namespace bindings in scope at the element.
    pub scope: Scope,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }

    /// The first child with local name `name` and no namespace (SHEP's inner elements are
    /// unqualified).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name == name && c.ns.is_none())
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children
            .iter()
            .filter(move |c| c.name == name && c.ns.is_none())
    }

    /// A child's text, trimmed; `None` when absent or empty (xsi:nil included).
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    pub fn attr(&self, ns: Option<&str>, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, l, _)| n.as_deref() == ns && l == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// Every element of the subtree (itself first), depth first, without recursion.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.children.iter().rev());
        }
        out
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses `input` into its root element within `limits`. The spans index `input`, a leading
/// UTF-8 byte order mark included (quick-xml skips it without counting it, so the document
/// after it is read and every span moved past it).
pub fn parse(input: &[u8], limits: Limits) -> Result<Element, XmlError> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let Some(rest) = input.strip_prefix(BOM) else {
        return parse_from(input, limits);
    };
    let shift = BOM.len();
    if rest.starts_with(BOM) {
        // quick-xml would skip it too, uncounted; XML allows one mark, before everything.
        return Err(XmlError::Malformed {
            at: shift as u64,
            message: "a second byte order mark: the document must begin with `<`".into(),
        });
    }
    let mut root = parse_from(rest, limits).map_err(|e| match e {
        XmlError::Malformed { at, message } => XmlError::Malformed {
            at: at + shift as u64,
            message,
        },
        other => other,
    })?;
    let mut stack = vec![&mut root];
    while let Some(e) = stack.pop() {
        e.span = e.span.start + shift..e.span.end + shift;
        e.inner = e.inner.start + shift..e.inner.end + shift;
        stack.extend(e.children.iter_mut());
    }
    Ok(root)
}

fn parse_from(input: &[u8], limits: Limits) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_reader(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let mut scope: Scope = Rc::new(Vec::new());
    let malformed = |at: u64, e: &dyn std::fmt::Display| XmlError::Malformed {
        at,
        message: e.to_string(),
    };
    loop {
        let before = reader.buffer_position() as usize;
        let (resolved, event) = reader
            .read_resolved_event()
            .map(|(r, e)| (owned(r), e))
            .map_err(|e| malformed(reader.error_position(), &e))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(malformed(before as u64, &"content after the root element"));
                }
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                let ns = match resolved {
                    Resolved::Unbound => None,
                    Resolved::Bound(n) => Some(n),
                    Resolved::Unknown(p) => return Err(XmlError::UnboundPrefix { prefix: p }),
                };
                let mut attrs = Vec::new();
                let mut declares = false;
                for a in s.attributes() {
                    let a = a.map_err(|e| malformed(before as u64, &e))?;
                    let key = a.key;
                    if key.as_namespace_binding().is_some() {
                        declares = true;
                        continue;
                    }
                    let (r, local) = reader.resolve_attribute(key);
                    let ans = match r {
                        ResolveResult::Unbound => None,
                        ResolveResult::Bound(n) => Some(text(n.0)),
                        ResolveResult::Unknown(p) => {
                            return Err(XmlError::UnboundPrefix { prefix: text(&p) });
                        }
                    };
                    let value = a.unescape_value().map_err(|e| match e {
                        quick_xml::Error::Escape(
                            quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                        ) => XmlError::UnknownEntity { name },
                        other => malformed(before as u64, &other),
                    })?;
                    attrs.push((ans, text(local.as_ref()), value.into_owned()));
                }
                if declares {
                    scope = Rc::new(
                        reader
                            .prefixes()
                            .map(|(p, n)| {
                                let p = match p {
                                    PrefixDeclaration::Default => String::new(),
                                    PrefixDeclaration::Named(p) => text(p),
                                };
                                (p, text(n.0))
                            })
                            .collect(),
                    );
                }
                let empty = matches!(event, Event::Empty(_));
                let el = Element {
                    ns,
                    name: text(s.local_name().as_ref()),
                    attrs,
                    children: Vec::new(),
                    text: String::new(),
                    span: before..after,
                    inner: after..after,
                    scope: scope.clone(),
                };
                if empty {
                    close(&mut stack, &mut root, el);
                    scope = stack
                        .last()
                        .map(|p| p.scope.clone())
                        .unwrap_or_else(|| Rc::new(Vec::new()));
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| malformed(before as u64, &"an end tag without a start"))?;
                el.inner.end = before;
                el.span.end = after;
                close(&mut stack, &mut root, el);
                scope = stack
                    .last()
                    .map(|p| p.scope.clone())
                    .unwrap_or_else(|| Rc::new(Vec::new()));
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| malformed(before as u64, &e))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(malformed(before as u64, &"text outside the root element")),
                }
            }
            Event::CData(c) => {
                let s = c.decode().map_err(|e| malformed(before as u64, &e))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None => {
                        return Err(malformed(before as u64, &"CDATA outside the root element"));
                    }
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| malformed(before as u64, &e))?
                        .map(String::from)
                } else {
                    let name = r.decode().map_err(|e| malformed(before as u64, &e))?;
                    Some(
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError::UnknownEntity {
                                name: name.to_string(),
                            })?
                            .to_string(),
                    )
                };
                match (stack.last_mut(), resolved) {
                    (Some(top), Some(s)) => top.text.push_str(&s),
                    (Some(_), None) => {}
                    (None, _) => {
                        return Err(malformed(
                            before as u64,
                            &"a reference outside the root element",
                        ));
                    }
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed(
            input.len() as u64,
            &format!("the document ends inside <{}>", stack[stack.len() - 1].name),
        ));
    }
    root.ok_or(XmlError::Empty)
}

enum Resolved {
    Unbound,
    Bound(String),
    Unknown(String),
}

fn owned(r: ResolveResult<'_>) -> Resolved {
    match r {
        ResolveResult::Unbound => Resolved::Unbound,
        ResolveResult::Bound(n) => Resolved::Bound(text(n.0)),
        ResolveResult::Unknown(p) => Resolved::Unknown(text(&p)),
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

/// Escapes character data and attribute values.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// The namespace declarations a fragment cut out of its document needs to mean the same
/// where it is put: every binding in scope at its place of origin, as attributes.
pub fn scope_attrs(scope: &Scope) -> String {
    let mut out = String::new();
    for (p, uri) in scope.iter() {
        if p.is_empty() {
            out.push_str(&format!(" xmlns=\"{}\"", escape(uri)));
        } else {
            out.push_str(&format!(" xmlns:{p}=\"{}\"", escape(uri)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element, XmlError> {
        parse(s.as_bytes(), Limits::default())
    }

    #[test]
    fn namespaces_text_and_spans() {
        let doc = r#"<?xml version="1.0"?><e:Envelope xmlns:e="urn:e"><e:Body><op xmlns="urn:t"><a x="1&amp;2">t&lt;1&#65;<![CDATA[<c>]]></a></op></e:Body></e:Envelope>"#;
        let root = p(doc).unwrap();
        assert!(root.is("urn:e", "Envelope"));
        let body = &root.children[0];
        let op = &body.children[0];
        assert_eq!(op.ns.as_deref(), Some("urn:t"));
        let a = &op.children[0];
        assert_eq!(a.ns.as_deref(), Some("urn:t"), "default namespace applies");
        assert_eq!(a.text, "t<1A<c>");
        assert_eq!(a.attr(None, "x"), Some("1&2"));
        assert_eq!(
            &doc[op.span.clone()],
            r#"<op xmlns="urn:t"><a x="1&amp;2">t&lt;1&#65;<![CDATA[<c>]]></a></op>"#
        );
        assert_eq!(&doc[a.inner.clone()], "t&lt;1&#65;<![CDATA[<c>]]>");
        assert!(
            a.scope.contains(&("".into(), "urn:t".into()))
                && a.scope.contains(&("e".into(), "urn:e".into())),
            "{:?}",
            a.scope
        );
    }

    #[test]
    fn hostile_documents_are_refused_by_kind() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert_eq!(p(laughs), Err(XmlError::Doctype));
        let xxe = r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#;
        assert_eq!(p(xxe), Err(XmlError::Doctype));
        assert_eq!(
            p("<x>&e;</x>"),
            Err(XmlError::UnknownEntity { name: "e".into() })
        );
        assert_eq!(
            p("<x a='&e;'/>"),
            Err(XmlError::UnknownEntity { name: "e".into() })
        );
        let deep = "<a>".repeat(200) + &"</a>".repeat(200);
        assert_eq!(p(&deep), Err(XmlError::TooDeep { limit: 128 }));
        let wide = format!("<a>{}</a>", "<b/>".repeat(300));
        assert_eq!(
            parse(
                wide.as_bytes(),
                Limits {
                    max_depth: 8,
                    max_elements: 100
                }
            ),
            Err(XmlError::TooManyElements { limit: 100 })
        );
        assert_eq!(
            p("<p:x/>"),
            Err(XmlError::UnboundPrefix { prefix: "p".into() })
        );
        for bad in ["<a><b></a>", "<a>", "", "text", "<a/><b/>", "<a></a>junk"] {
            assert!(
                matches!(p(bad), Err(XmlError::Malformed { .. } | XmlError::Empty)),
                "{bad:?}: {:?}",
                p(bad)
            );
        }
    }

    /// Found by the soap_envelope fuzz target: a leading byte order mark moved every span by
    /// its three bytes, so a relayed `data` was cut short.
    #[test]
    fn a_byte_order_mark_does_not_move_the_spans() {
        let doc = b"\xEF\xBB\xBF<a><data>real</data></a>";
        let root = parse(doc, Limits::default()).unwrap();
        let data = &root.children[0];
        assert_eq!(&doc[data.inner.clone()], b"real");
        assert_eq!(&doc[data.span.clone()], b"<data>real</data>");
        let twice = b"\xEF\xBB\xBF\xEF\xBB\xBF<a><data>real</data></a>";
        assert!(matches!(
            parse(twice, Limits::default()),
            Err(XmlError::Malformed { at: 3, .. })
        ));
    }
}
