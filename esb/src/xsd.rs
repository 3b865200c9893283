//! eint-14: a service's XSD and its request and response samples, validated with libxml2's
//! XML Schema implementation (the `libxml` crate over Debian's libxml2). The operator's desk
//! refuses a publication whose samples do not validate, so the service never becomes routable.
//!
//! What an applicant sends is not trusted: a DOCTYPE is refused before libxml2 sees the text
//! (no entity is ever declared, let alone expanded), and libxml2's loader of external resources
//! is replaced by one that loads nothing, so an `xs:import`/`xs:include` naming a file or a URL
//! is a schema error, never a read of this machine's files or the network.

use std::sync::Once;

use libxml::parser::{Parser, ParserOptions};
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};

/// libxml2's external entity loader for the whole process: loads nothing.
unsafe extern "C" fn load_nothing(
    _url: *const std::os::raw::c_char,
    _id: *const std::os::raw::c_char,
    _ctx: libxml::bindings::xmlParserCtxtPtr,
) -> libxml::bindings::xmlParserInputPtr {
    std::ptr::null_mut()
}

fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        libxml::bindings::xmlInitParser();
        libxml::bindings::xmlSetExternalEntityLoader(Some(load_nothing));
    });
}

fn messages(errors: Vec<libxml::error::StructuredError>) -> String {
    let m: Vec<String> = errors
        .iter()
        .take(3)
        .map(|e| {
            let text = e
                .message
                .as_deref()
                .unwrap_or("(no message)")
                .trim()
                .to_string();
            match e.line {
                Some(l) if l > 0 => format!("line {l}: {text}"),
                _ => text,
            }
        })
        .collect();
    if m.is_empty() {
        "libxml2 gave no reason".into()
    } else {
        m.join("; ")
    }
}

/// The problems of a service's schema and samples, each naming the field: `xsd` does not
/// compile, or a sample (`(field, text)`) is not well-formed or does not validate against it.
/// Empty when all is well.
pub fn problems(xsd: &str, samples: &[(&str, &str)]) -> Vec<String> {
    init();
    let doctype = |t: &str| t.contains("<!DOCTYPE");
    if doctype(xsd) {
        return vec!["xsd carries a DOCTYPE: a service schema declares no entities".into()];
    }
    let mut parser = SchemaParserContext::from_buffer(xsd.as_bytes());
    let mut ctx = match SchemaValidationContext::from_parser(&mut parser) {
        Ok(c) => c,
        Err(e) => return vec![format!("xsd is not a usable XML Schema: {}", messages(e))],
    };
    let mut out = Vec::new();
    for (field, text) in samples {
        if doctype(text) {
            out.push(format!(
                "{field} carries a DOCTYPE: a sample message declares no entities"
            ));
            continue;
        }
        let doc = match Parser::default().parse_string_with_options(
            text,
            ParserOptions {
                // libxml's default recovers from errors: a message must be well-formed.
                recover: false,
                no_net: true,
                no_error: true,
                no_warning: true,
                ..ParserOptions::default()
            },
        ) {
            Ok(d) => d,
            Err(e) => {
                out.push(format!("{field} is not well-formed XML: {e:?}"));
                continue;
            }
        };
        if let Err(e) = ctx.validate_document(&doc) {
            out.push(format!(
                "{field} does not validate against the xsd: {}",
                messages(e)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const XSD: &str = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t" xmlns="urn:t" elementFormDefault="qualified">
  <xs:element name="req"><xs:complexType><xs:sequence>
    <xs:element name="iin"><xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[0-9]{12}"/></xs:restriction></xs:simpleType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"#;

    #[test]
    fn samples_that_keep_the_schema_pass_and_others_are_named() {
        let good = r#"<req xmlns="urn:t"><iin>900101300123</iin></req>"#;
        assert!(problems(XSD, &[("request-sample", good)]).is_empty());
        // Written by hand against the pattern [0-9]{12}: eleven digits and a letter.
        let bad = r#"<req xmlns="urn:t"><iin>90010130012X</iin></req>"#;
        let p = problems(XSD, &[("request-sample", good), ("response-sample", bad)]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("response-sample does not validate"),
            "{p:?}"
        );
        let other_root = r#"<answer xmlns="urn:t"/>"#;
        assert_eq!(problems(XSD, &[("request-sample", other_root)]).len(), 1);
        let p = problems(XSD, &[("request-sample", "<req")]);
        assert!(p[0].contains("not well-formed"), "{p:?}");
    }

    #[test]
    fn broken_or_hostile_schemas_are_problems_not_reads() {
        assert!(problems("<xs:schema", &[])[0].starts_with("xsd is not"));
        assert!(problems("<notaschema/>", &[])[0].starts_with("xsd is not"));
        let import = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:include schemaLocation="/etc/passwd"/></xs:schema>"#;
        assert!(!problems(import, &[])[0].is_empty());
        let doctype = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{XSD}");
        assert!(problems(&doctype, &[])[0].contains("DOCTYPE"));
    }
}
