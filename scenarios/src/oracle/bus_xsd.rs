//! eint-14 `samples-valid-against-xsd`, judged on the wire: a publication whose request or
//! response sample does not validate against the XSD it came with must not become routable.
//! Which publications are deficient is the harness's own judgement of what it sent (libxml2's
//! XML Schema validation of the act's `xsd`, `request-sample` and `response-sample` fields, as
//! sent); whether the service became routable is what the harness's clients got back.

use qaqpa_reports::{Evidence, Judgement, Verdict};
use qaqpa_sim::clock;
use qaqpa_sim::trace::{DocKind, Event, Trace};

use super::{CaseVerdict, Oracle, OracleCtx, combine};
use crate::interpreter::HARNESS;

pub struct SamplesValidAgainstXsd;

/// libxml2 loads nothing from outside while the harness validates an applicant's schema.
unsafe extern "C" fn load_nothing(
    _url: *const std::os::raw::c_char,
    _id: *const std::os::raw::c_char,
    _ctx: libxml::bindings::xmlParserCtxtPtr,
) -> libxml::bindings::xmlParserInputPtr {
    std::ptr::null_mut()
}

/// Why the samples do not keep the schema, or `None` when both validate.
pub fn deficiency(xsd: &str, request: Option<&str>, response: Option<&str>) -> Option<String> {
    use libxml::parser::{Parser, ParserOptions};
    use libxml::schemas::{SchemaParserContext, SchemaValidationContext};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        libxml::bindings::xmlInitParser();
        libxml::bindings::xmlSetExternalEntityLoader(Some(load_nothing));
    });
    if xsd.contains("<!DOCTYPE") {
        return Some("the xsd carries a DOCTYPE".into());
    }
    let mut parser = SchemaParserContext::from_buffer(xsd.as_bytes());
    let Ok(mut schema) = SchemaValidationContext::from_parser(&mut parser) else {
        return Some("the xsd is not a usable XML Schema".into());
    };
    for (field, text) in [("request-sample", request), ("response-sample", response)] {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Some(format!("the {field} is missing"));
        };
        let options = ParserOptions {
            recover: false,
            no_net: true,
            ..ParserOptions::default()
        };
        let Ok(doc) = Parser::default().parse_string_with_options(text, options) else {
            return Some(format!("the {field} is not well-formed XML"));
        };
        if text.contains("<!DOCTYPE") {
            return Some(format!("the {field} carries a DOCTYPE"));
        }
        if let Err(e) = schema.validate_document(&doc) {
            let why = e
                .first()
                .and_then(|e| e.message.clone())
                .unwrap_or_default();
            return Some(format!("the {field} does not validate: {}", why.trim()));
        }
    }
    None
}

impl Oracle for SamplesValidAgainstXsd {
    fn clause(&self) -> &'static str {
        "eint-14"
    }
    fn obligation(&self) -> &'static str {
        "samples-valid-against-xsd"
    }
    fn describe(&self) -> &'static str {
        "a service whose publication test act carried an XSD with request and response samples that do not validate against it (libxml2, as the harness sent them) never becomes routable: every later call to it is refused and reaches no provider"
    }
    fn judge(&self, ctx: &OracleCtx<'_>, trace: &Trace) -> Judgement {
        let mut cases = Vec::new();
        for (ao, act) in trace.documents() {
            if act.doc != DocKind::PublicationTestAct
                || !ao.probe.starts_with("inbox:")
                || ao.probe == HARNESS
            {
                continue;
            }
            let (Some(service), Some(xsd)) = (
                act.fields
                    .get("service-key")
                    .or(act.fields.get("service-id")),
                act.fields.get("xsd").filter(|x| !x.trim().is_empty()),
            ) else {
                continue;
            };
            let Some(why) = deficiency(
                xsd,
                act.fields.get("request-sample").map(String::as_str),
                act.fields.get("response-sample").map(String::as_str),
            ) else {
                continue;
            };
            let act_evidence = Evidence {
                text: format!("{} ({why})", super::seen(ctx, ao, act).text),
                ..super::seen(ctx, ao, act)
            };
            for o in trace.observations() {
                let Event::BusCall(c) = &o.event else {
                    continue;
                };
                if &c.service != service || c.sent < ao.at {
                    continue;
                }
                let reached = trace.observations().iter().any(|x| {
                    matches!(&x.event, Event::BusReceived(r)
                        if r.endpoint == "provider" && &r.service == service && x.at >= c.sent && r.message_id == c.label)
                });
                let refused = c.outcome == "fault" && !reached;
                cases.push(CaseVerdict {
                    verdict: if refused {
                        Verdict::Pass
                    } else {
                        Verdict::Fail
                    },
                    finding: format!(
                        "call {} to {service}, whose samples do not keep its XSD, {}",
                        c.label,
                        if refused { "was refused" } else { "was routed" }
                    ),
                    evidence: vec![
                        act_evidence.clone(),
                        Evidence {
                            scenario: ctx.scenario.to_string(),
                            at: clock::display(o.at),
                            probe: o.probe.clone(),
                            subject: format!("call {}", c.label),
                            text: format!(
                                "{} called {service}: {}",
                                c.from,
                                match c.outcome.as_str() {
                                    "fault" => format!(
                                        "refused with {}",
                                        c.error_code.as_deref().unwrap_or("no errorCode")
                                    ),
                                    other => other.to_string(),
                                }
                            ),
                            seq: Some(o.seq),
                        },
                    ],
                });
            }
        }
        combine("eint-14", cases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harness_tells_samples_that_keep_their_schema_from_others() {
        let xsd = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:a" elementFormDefault="qualified"><xs:element name="q" type="xs:int"/></xs:schema>"#;
        let ok = r#"<q xmlns="urn:a">12</q>"#;
        assert_eq!(deficiency(xsd, Some(ok), Some(ok)), None);
        // "twelve" is no xs:int.
        let bad = r#"<q xmlns="urn:a">twelve</q>"#;
        assert!(
            deficiency(xsd, Some(ok), Some(bad))
                .unwrap()
                .contains("response-sample")
        );
        assert!(
            deficiency(xsd, None, Some(ok))
                .unwrap()
                .contains("request-sample is missing")
        );
        assert!(deficiency("<x", Some(ok), Some(ok)).is_some());
    }
}
