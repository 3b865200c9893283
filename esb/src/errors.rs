//! The bus's `ErrorInfo` faults and their stable error codes.
//!
//! A code, once published, keeps its meaning: clients branch on it. The table is documented
//! in `docs/bus-errors.md`; a test keeps the two equal.

use crate::xml::escape;

/// Every error code the reference bus answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// The body is not well-formed XML (or not UTF-8).
    MalformedXml,
    /// The document carries a DOCTYPE (entity declarations are never processed).
    DoctypeForbidden,
    /// The body is larger than the bus accepts.
    TooLarge,
    /// Elements nest too deep, or there are too many of them.
    TooComplex,
    /// Not a SOAP 1.1 Envelope with one Body.
    NotSoapEnvelope,
    /// The Body holds an element that is not an operation of this channel (wrong name or
    /// namespace).
    UnknownOperation,
    /// A required field is missing or empty.
    MissingField,
    /// A field's value is not of its type (a date, an enumeration, a number), or a field the
    /// bus sets was set by the sender.
    InvalidField,
    /// The HTTP request is not a SOAP call of this endpoint (method, path, content type).
    BadRequest,
    /// `serviceId` names no service in the registry (or a removed one).
    ServiceNotFound,
    /// `senderId` names no system the bus knows.
    SenderUnknown,
    /// The sender is not connected to the service: none applied for, no production (or test)
    /// access yet, or disconnected.
    AccessDenied,
    /// The sender's or the service owner's system is suspended (its test act was revoked, or
    /// its errors were not fixed).
    SystemSuspended,
    /// A non-state system, or one outside the inner circuit, called the inner gateway; it must
    /// come through ЭҮСШ.
    ExternalGatewayRequired,
    /// The service is not published on the gateway that was called.
    NotPublishedHere,
    /// The sender's WS-Security signature is missing or does not verify.
    SignatureInvalid,
    /// The call needs the subject's consent to access personal data, and there is none.
    ConsentRequired,
    /// The signer's certificate does not chain to the configured root (NCA RK), or is not
    /// valid at the bus's instant.
    CertificateUntrusted,
    /// The service is in an announced technological break.
    Maintenance,
    /// The service's provider could not be reached.
    ProviderUnavailable,
    /// The service's provider did not answer in time.
    ProviderTimeout,
    /// The service's provider answered with a fault (in `subError`) or an answer that is not
    /// a SOAP response.
    ProviderFault,
    /// The message asked about is unknown, or not the caller's.
    MessageNotFound,
    /// The service is asynchronous and was called on the synchronous channel, or the other way.
    WrongChannel,
    /// Anything else: the bus's own failure.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 25] = [
        ErrorCode::MalformedXml,
        ErrorCode::DoctypeForbidden,
        ErrorCode::TooLarge,
        ErrorCode::TooComplex,
        ErrorCode::NotSoapEnvelope,
        ErrorCode::UnknownOperation,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::BadRequest,
        ErrorCode::ServiceNotFound,
        ErrorCode::SenderUnknown,
        ErrorCode::AccessDenied,
        ErrorCode::SystemSuspended,
        ErrorCode::ExternalGatewayRequired,
        ErrorCode::NotPublishedHere,
        ErrorCode::SignatureInvalid,
        ErrorCode::ConsentRequired,
        ErrorCode::CertificateUntrusted,
        ErrorCode::Maintenance,
        ErrorCode::ProviderUnavailable,
        ErrorCode::ProviderTimeout,
        ErrorCode::ProviderFault,
        ErrorCode::MessageNotFound,
        ErrorCode::WrongChannel,
        ErrorCode::Internal,
    ];

    /// The `errorCode` on the wire.
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::MalformedXml => "SHEP-100",
            ErrorCode::DoctypeForbidden => "SHEP-101",
            ErrorCode::TooLarge => "SHEP-102",
            ErrorCode::TooComplex => "SHEP-103",
            ErrorCode::NotSoapEnvelope => "SHEP-104",
            ErrorCode::UnknownOperation => "SHEP-105",
            ErrorCode::MissingField => "SHEP-106",
            ErrorCode::InvalidField => "SHEP-107",
            ErrorCode::BadRequest => "SHEP-108",
            ErrorCode::ServiceNotFound => "SHEP-200",
            ErrorCode::SenderUnknown => "SHEP-201",
            ErrorCode::AccessDenied => "SHEP-202",
            ErrorCode::SystemSuspended => "SHEP-203",
            ErrorCode::ExternalGatewayRequired => "SHEP-204",
            ErrorCode::NotPublishedHere => "SHEP-205",
            ErrorCode::SignatureInvalid => "SHEP-206",
            ErrorCode::ConsentRequired => "SHEP-207",
            ErrorCode::CertificateUntrusted => "SHEP-208",
            ErrorCode::Maintenance => "SHEP-300",
            ErrorCode::ProviderUnavailable => "SHEP-301",
            ErrorCode::ProviderTimeout => "SHEP-302",
            ErrorCode::ProviderFault => "SHEP-303",
            ErrorCode::MessageNotFound => "SHEP-400",
            ErrorCode::WrongChannel => "SHEP-401",
            ErrorCode::Internal => "SHEP-500",
        }
    }

    /// Whether the fault is the sender's (SOAP `Client`) or the bus's side (`Server`).
    pub fn soap_fault_code(self) -> &'static str {
        match self {
            ErrorCode::Maintenance
            | ErrorCode::ProviderUnavailable
            | ErrorCode::ProviderTimeout
            | ErrorCode::ProviderFault
            | ErrorCode::Internal => "soap:Server",
            _ => "soap:Client",
        }
    }
}

/// An `ErrorInfo` (common/v10/Types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    pub data: Option<String>,
    /// xsd:dateTime.
    pub date: String,
    pub sub_error: Option<Box<ErrorInfo>>,
    pub session_id: Option<String>,
}

impl ErrorInfo {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            code: code.code().into(),
            message: message.into(),
            data: None,
            date: String::new(),
            sub_error: None,
            session_id: None,
        }
    }

    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == code.code()
    }

    /// The element's content (its child elements), innermost sub-error last; the nesting is
    /// written iteratively, so a provider's deep chain of sub-errors cannot exhaust the stack.
    pub fn content_xml(&self) -> String {
        let mut chain = vec![self];
        while let Some(s) = chain.last().and_then(|e| e.sub_error.as_deref()) {
            chain.push(s);
        }
        let mut out = String::new();
        for (i, e) in chain.iter().enumerate() {
            if i > 0 {
                out.push_str("<subError>");
            }
            out.push_str(&format!(
                "<errorCode>{}</errorCode><errorMessage>{}</errorMessage>",
                escape(&e.code),
                escape(&e.message)
            ));
            if let Some(d) = &e.data {
                out.push_str(&format!("<errorData>{}</errorData>", escape(d)));
            }
            out.push_str(&format!("<errorDate>{}</errorDate>", escape(&e.date)));
            // sessionId comes after subError in the schema: written on the way out.
        }
        for (i, e) in chain.iter().enumerate().rev() {
            if let Some(s) = &e.session_id {
                out.push_str(&format!("<sessionId>{}</sessionId>", escape(s)));
            }
            if i > 0 {
                out.push_str("</subError>");
            }
        }
        out
    }

    /// Reads an `ErrorInfo` element's content (a provider's fault detail).
    pub fn from_element(e: &crate::xml::Element) -> ErrorInfo {
        // Iterative: follow subError links, then rebuild from the innermost.
        let mut levels = vec![e];
        while let Some(s) = levels.last().and_then(|l| l.child("subError")) {
            levels.push(s);
        }
        let mut inner: Option<Box<ErrorInfo>> = None;
        for l in levels.into_iter().rev() {
            inner = Some(Box::new(ErrorInfo {
                code: l.text_of("errorCode").unwrap_or_default(),
                message: l.text_of("errorMessage").unwrap_or_default(),
                data: l.text_of("errorData"),
                date: l.text_of("errorDate").unwrap_or_default(),
                sub_error: inner,
                session_id: l.text_of("sessionId"),
            }));
        }
        *inner.expect("at least the element itself")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented table (docs/bus-errors.md) lists exactly the codes the bus answers
    /// with, each once, with its name: a client's branch on a code must find it documented.
    #[test]
    fn the_documented_table_is_the_code_table() {
        let doc = include_str!("../../docs/bus-errors.md");
        let rows: Vec<(String, String)> = doc
            .lines()
            .filter(|l| l.starts_with("| `SHEP-"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_string(), cells[2].to_string())
            })
            .collect();
        let ours: Vec<(String, String)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.code().to_string(), format!("{c:?}")))
            .collect();
        assert_eq!(rows, ours);
        let mut codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len(), "codes are unique");
    }

    #[test]
    fn sub_errors_round_trip_in_schema_order() {
        let mut e = ErrorInfo::new(ErrorCode::ProviderFault, "provider said no");
        e.date = "2025-01-01T00:00:00Z".into();
        e.session_id = Some("s1".into());
        let mut sub = ErrorInfo::new(ErrorCode::Internal, "inner <b>");
        sub.code = "P-1".into();
        sub.date = "2025-01-01T00:00:00Z".into();
        e.sub_error = Some(Box::new(sub));
        let xml = format!("<e>{}</e>", e.content_xml());
        assert!(
            xml.ends_with("<errorDate>2025-01-01T00:00:00Z</errorDate></subError><sessionId>s1</sessionId></e>"),
            "{xml}"
        );
        let el = crate::xml::parse(xml.as_bytes(), Default::default()).unwrap();
        assert_eq!(ErrorInfo::from_element(&el), e);
    }
}
