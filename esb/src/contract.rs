//! The SHEP v10 message contract (shared/rules/BUS-CONTRACT.md), field by field: reading
//! requests out of a SOAP Body and writing requests, responses and faults.
//!
//! Wrapper elements are qualified (`SendMessage` in the channel's Types namespace); every
//! element inside them is unqualified, as the published schemas define them.

use crate::errors::{ErrorCode, ErrorInfo};
use crate::xml::{self, Element, Limits, escape};

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SYNC_IFACE: &str = "http://bip.bee.kz/SyncChannel/v10/Interfaces";
pub const SYNC_TYPES: &str = "http://bip.bee.kz/SyncChannel/v10/Types";
pub const ASYNC_IFACE: &str = "http://bip.bee.kz/AsyncChannel/v10/Interfaces";
pub const ASYNC_TYPES: &str = "http://bip.bee.kz/AsyncChannel/v10/Types";
/// The receiving system's push interface.
pub const ASYNC_CLIENT_IFACE: &str = "http://bip.bee.kz/AsyncChannel/v10/Interfaces/Client";
pub const COMMON_TYPES: &str = "http://bip.bee.kz/common/v10/Types";
pub const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// The most a request body may hold.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// A field failure: what the fault says.
fn missing(path: &str) -> ErrorInfo {
    ErrorInfo::new(
        ErrorCode::MissingField,
        format!("{path} is required and missing or empty"),
    )
}

fn invalid(path: &str, why: impl std::fmt::Display) -> ErrorInfo {
    ErrorInfo::new(ErrorCode::InvalidField, format!("{path}: {why}"))
}

fn required(e: &Element, name: &str, path: &str) -> Result<String, ErrorInfo> {
    e.text_of(name)
        .ok_or_else(|| missing(&format!("{path}.{name}")))
}

fn required_child<'a>(e: &'a Element, name: &str, path: &str) -> Result<&'a Element, ErrorInfo> {
    e.child(name)
        .ok_or_else(|| missing(&format!("{path}.{name}")))
}

/// xsd:dateTime as a sender may write it: with an offset, `Z`, or none (local time).
pub fn check_date(v: &str, path: &str) -> Result<(), ErrorInfo> {
    let ok = v.parse::<jiff::Timestamp>().is_ok() || v.parse::<jiff::civil::DateTime>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(invalid(path, format!("`{v}` is not an xsd:dateTime")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderInfo {
    pub sender_id: String,
    pub password: Option<String>,
}

impl SenderInfo {
    fn read(e: &Element, path: &str) -> Result<SenderInfo, ErrorInfo> {
        Ok(SenderInfo {
            sender_id: required(e, "senderId", path)?,
            password: e.text_of("password"),
        })
    }

    fn write(&self, out: &mut String, tag: &str) {
        out.push_str(&format!(
            "<{tag}><senderId>{}</senderId>",
            escape(&self.sender_id)
        ));
        if let Some(p) = &self.password {
            out.push_str(&format!("<password>{}</password>", escape(p)));
        }
        out.push_str(&format!("</{tag}>"));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
}

fn read_properties(e: &Element) -> Vec<Property> {
    e.children_named("properties")
        .map(|p| Property {
            key: p.text_of("key").unwrap_or_default(),
            value: p.text_of("value").unwrap_or_default(),
        })
        .collect()
}

fn write_properties(out: &mut String, props: &[Property]) {
    for p in props {
        out.push_str(&format!(
            "<properties><key>{}</key><value>{}</value></properties>",
            escape(&p.key),
            escape(&p.value)
        ));
    }
}

fn opt(out: &mut String, tag: &str, v: &Option<String>) {
    if let Some(v) = v {
        out.push_str(&format!("<{tag}>{}</{tag}>", escape(v)));
    }
}

/// `MessageData`: the business payload, `data` of xsd:anyType, carried as it came (its
/// element with the namespace bindings it relied on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageData {
    /// The whole `<data>…</data>` element, self-contained; `None` when absent.
    pub data: Option<String>,
}

impl MessageData {
    fn read(e: Option<&Element>, src: &[u8]) -> MessageData {
        let Some(d) = e.and_then(|e| e.child("data")) else {
            return MessageData::default();
        };
        MessageData {
            data: Some(self_contained(d, src)),
        }
    }

    fn write(&self, out: &mut String, tag: &str) {
        out.push_str(&format!("<{tag}>"));
        if let Some(d) = &self.data {
            out.push_str(d);
        }
        out.push_str(&format!("</{tag}>"));
    }

    /// A payload from its inner XML (a harness's or a test's).
    pub fn from_inner(inner: &str) -> MessageData {
        MessageData {
            data: Some(format!("<data>{inner}</data>")),
        }
    }
}

/// The element cut out of `src` with every namespace binding in scope at its place (and not
/// declared on it already) declared on its start tag, so it means the same anywhere.
pub fn self_contained(e: &Element, src: &[u8]) -> String {
    let text = String::from_utf8_lossy(&src[e.span.clone()]);
    let tag_end = if e.inner.start > e.span.start {
        e.inner.start - e.span.start
    } else {
        text.len()
    };
    let start_tag = &text[..tag_end];
    // The name ends at the first space, slash or '>' after '<'.
    let name_end = start_tag[1..]
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .map(|i| i + 1)
        .unwrap_or(start_tag.len());
    let mut decls = String::new();
    for (p, uri) in e.scope.iter() {
        let attr = if p.is_empty() {
            "xmlns".to_string()
        } else {
            format!("xmlns:{p}")
        };
        if start_tag.contains(&format!("{attr}=")) {
            continue;
        }
        decls.push_str(&format!(" {attr}=\"{}\"", escape(uri)));
    }
    format!("{}{}{}", &text[..name_end], decls, &text[name_end..])
}

/// `SyncMessageInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMessageInfo {
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub service_id: String,
    pub message_date: String,
    pub route_id: Option<String>,
    pub sender: SenderInfo,
    pub properties: Vec<Property>,
    pub session_id: Option<String>,
}

/// `SyncSendMessageRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub info: SyncMessageInfo,
    pub data: MessageData,
}

impl SyncRequest {
    /// Reads the `request` of a `SendMessage` body element.
    pub fn read(op: &Element, src: &[u8]) -> Result<SyncRequest, ErrorInfo> {
        let req = required_child(op, "request", "SendMessage")?;
        let info = required_child(req, "requestInfo", "request")?;
        let p = "requestInfo";
        let message_date = required(info, "messageDate", p)?;
        check_date(&message_date, "requestInfo.messageDate")?;
        Ok(SyncRequest {
            info: SyncMessageInfo {
                message_id: required(info, "messageId", p)?,
                correlation_id: info.text_of("correlationId"),
                service_id: required(info, "serviceId", p)?,
                message_date,
                route_id: info.text_of("routeId"),
                sender: SenderInfo::read(required_child(info, "sender", p)?, "requestInfo.sender")?,
                properties: read_properties(info),
                session_id: info.text_of("sessionId"),
            },
            data: MessageData::read(req.child("requestData"), src),
        })
    }

    /// The `SendMessage` body element.
    pub fn write(&self) -> String {
        let i = &self.info;
        let mut out = format!(
            "<typ:SendMessage xmlns:typ=\"{SYNC_TYPES}\"><request><requestInfo><messageId>{}</messageId>",
            escape(&i.message_id)
        );
        opt(&mut out, "correlationId", &i.correlation_id);
        out.push_str(&format!(
            "<serviceId>{}</serviceId><messageDate>{}</messageDate>",
            escape(&i.service_id),
            escape(&i.message_date)
        ));
        opt(&mut out, "routeId", &i.route_id);
        i.sender.write(&mut out, "sender");
        write_properties(&mut out, &i.properties);
        opt(&mut out, "sessionId", &i.session_id);
        out.push_str("</requestInfo>");
        self.data.write(&mut out, "requestData");
        out.push_str("</request></typ:SendMessage>");
        out
    }
}

/// `StatusInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    pub code: String,
    /// At most 250 characters.
    pub message: String,
}

/// `SyncSendMessageResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub response_date: String,
    pub status: StatusInfo,
    pub session_id: Option<String>,
    pub data: MessageData,
}

impl SyncResponse {
    /// Reads the `response` of a `SendMessageResponse` body element (a provider's answer).
    pub fn read(op: &Element, src: &[u8]) -> Result<SyncResponse, ErrorInfo> {
        let resp = required_child(op, "response", "SendMessageResponse")?;
        let info = required_child(resp, "responseInfo", "response")?;
        let p = "responseInfo";
        let status = required_child(info, "status", p)?;
        Ok(SyncResponse {
            message_id: required(info, "messageId", p)?,
            correlation_id: info.text_of("correlationId"),
            response_date: required(info, "responseDate", p)?,
            status: StatusInfo {
                code: required(status, "code", "responseInfo.status")?,
                message: status.text_of("message").unwrap_or_default(),
            },
            session_id: info.text_of("sessionId"),
            data: MessageData::read(resp.child("responseData"), src),
        })
    }

    pub fn write(&self) -> String {
        let mut out = format!(
            "<typ:SendMessageResponse xmlns:typ=\"{SYNC_TYPES}\"><response><responseInfo><messageId>{}</messageId>",
            escape(&self.message_id)
        );
        opt(&mut out, "correlationId", &self.correlation_id);
        let message: String = self.status.message.chars().take(250).collect();
        out.push_str(&format!(
            "<responseDate>{}</responseDate><status><code>{}</code><message>{}</message></status>",
            escape(&self.response_date),
            escape(&self.status.code),
            escape(&message)
        ));
        opt(&mut out, "sessionId", &self.session_id);
        out.push_str("</responseInfo>");
        self.data.write(&mut out, "responseData");
        out.push_str("</response></typ:SendMessageResponse>");
        out
    }
}

/// `messageType` of the asynchronous channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Request,
    Notification,
    Update,
    Response,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Request => "REQUEST",
            MessageType::Notification => "NOTIFICATION",
            MessageType::Update => "UPDATE",
            MessageType::Response => "RESPONSE",
        }
    }

    pub fn parse(s: &str) -> Option<MessageType> {
        [
            MessageType::Request,
            MessageType::Notification,
            MessageType::Update,
            MessageType::Response,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// The states of an asynchronous message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    OnDelivery,
    Delivered,
    NotDelivered,
    DeliveryStopped,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::OnDelivery => "ON_DELIVERY",
            MessageState::Delivered => "DELIVERED",
            MessageState::NotDelivered => "NOT_DELIVERED",
            MessageState::DeliveryStopped => "DELIVERY_STOPPED",
        }
    }
}

/// `AsyncMessageInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncMessageInfo {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub service_id: String,
    pub message_type: MessageType,
    pub route_id: Option<String>,
    pub message_date: String,
    pub sender: SenderInfo,
    pub properties: Vec<Property>,
    pub session_id: Option<String>,
}

impl AsyncMessageInfo {
    fn read(info: &Element, p: &str) -> Result<AsyncMessageInfo, ErrorInfo> {
        let t = required(info, "messageType", p)?;
        let message_type = MessageType::parse(&t).ok_or_else(|| {
            invalid(
                &format!("{p}.messageType"),
                format!("`{t}` is not REQUEST, NOTIFICATION, UPDATE or RESPONSE"),
            )
        })?;
        let message_date = required(info, "messageDate", p)?;
        check_date(&message_date, &format!("{p}.messageDate"))?;
        Ok(AsyncMessageInfo {
            message_id: info.text_of("messageId"),
            correlation_id: info.text_of("correlationId"),
            service_id: required(info, "serviceId", p)?,
            message_type,
            route_id: info.text_of("routeId"),
            message_date,
            sender: SenderInfo::read(required_child(info, "sender", p)?, &format!("{p}.sender"))?,
            properties: read_properties(info),
            session_id: info.text_of("sessionId"),
        })
    }

    pub fn write(&self, out: &mut String, tag: &str) {
        out.push_str(&format!("<{tag}>"));
        opt(out, "messageId", &self.message_id);
        opt(out, "correlationId", &self.correlation_id);
        out.push_str(&format!(
            "<serviceId>{}</serviceId><messageType>{}</messageType>",
            escape(&self.service_id),
            self.message_type.as_str()
        ));
        opt(out, "routeId", &self.route_id);
        out.push_str(&format!(
            "<messageDate>{}</messageDate>",
            escape(&self.message_date)
        ));
        self.sender.write(out, "sender");
        write_properties(out, &self.properties);
        opt(out, "sessionId", &self.session_id);
        out.push_str(&format!("</{tag}>"));
    }
}

/// An asynchronous `sendMessage` request: `messageInfo` + `messageData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncMessage {
    pub info: AsyncMessageInfo,
    pub data: MessageData,
}

impl AsyncMessage {
    pub fn read(op: &Element, src: &[u8]) -> Result<AsyncMessage, ErrorInfo> {
        let req = required_child(op, "request", "sendMessage")?;
        let info = required_child(req, "messageInfo", "request")?;
        Ok(AsyncMessage {
            info: AsyncMessageInfo::read(info, "messageInfo")?,
            data: MessageData::read(req.child("messageData"), src),
        })
    }

    /// The message as an element `tag` (a `request` of sendMessage, an entry of getMessages).
    pub fn write(&self, out: &mut String, tag: &str) {
        out.push_str(&format!("<{tag}>"));
        self.info.write(out, "messageInfo");
        self.data.write(out, "messageData");
        out.push_str(&format!("</{tag}>"));
    }
}

/// The asynchronous `getMessages` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMessages {
    pub service_id: String,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub request_date: Option<String>,
    pub sender: SenderInfo,
    pub amount: Option<u32>,
}

impl GetMessages {
    pub fn read(op: &Element) -> Result<GetMessages, ErrorInfo> {
        let req = required_child(op, "request", "getMessages")?;
        let amount =
            match req.text_of("amount") {
                None => None,
                Some(a) => Some(a.parse::<u32>().map_err(|_| {
                    invalid("request.amount", format!("`{a}` is not a whole number"))
                })?),
            };
        let request_date = req.text_of("requestDate");
        if let Some(d) = &request_date {
            check_date(d, "request.requestDate")?;
        }
        Ok(GetMessages {
            service_id: required(req, "serviceId", "request")?,
            message_id: req.text_of("messageId"),
            correlation_id: req.text_of("correlationId"),
            request_date,
            sender: SenderInfo::read(required_child(req, "sender", "request")?, "request.sender")?,
            amount,
        })
    }
}

/// The asynchronous `getMessageStatus` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMessageStatus {
    pub message_id: String,
    pub sender: SenderInfo,
}

impl GetMessageStatus {
    pub fn read(op: &Element) -> Result<GetMessageStatus, ErrorInfo> {
        let req = required_child(op, "request", "getMessageStatus")?;
        Ok(GetMessageStatus {
            message_id: required(req, "messageId", "request")?,
            sender: SenderInfo::read(required_child(req, "sender", "request")?, "request.sender")?,
        })
    }
}

/// `receiveStatus` of a delivery notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveStatus {
    Accepted,
    /// `MESSAGE_NOT_ACCTEPTED` (sic, as published).
    NotAccepted,
}

/// The asynchronous `sendDeliveryNotification` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryNotification {
    pub message_id: String,
    pub service_id: String,
    pub notification_date: String,
    pub receive_status: ReceiveStatus,
    pub status_date: String,
    pub resend: bool,
    pub error: Option<ErrorInfo>,
    pub sender: SenderInfo,
}

impl DeliveryNotification {
    pub fn read(op: &Element) -> Result<DeliveryNotification, ErrorInfo> {
        let req = required_child(op, "request", "sendDeliveryNotification")?;
        let p = "request";
        let notification_date = required(req, "notificationDate", p)?;
        check_date(&notification_date, "request.notificationDate")?;
        let st = required_child(req, "deliveryStatus", p)?;
        let sp = "request.deliveryStatus";
        let rs = required(st, "receiveStatus", sp)?;
        let receive_status = match rs.as_str() {
            "MESSAGE_ACCEPTED" => ReceiveStatus::Accepted,
            "MESSAGE_NOT_ACCTEPTED" => ReceiveStatus::NotAccepted,
            other => {
                return Err(invalid(
                    "request.deliveryStatus.receiveStatus",
                    format!("`{other}` is not MESSAGE_ACCEPTED or MESSAGE_NOT_ACCTEPTED"),
                ));
            }
        };
        let status_date = required(st, "statusDate", sp)?;
        check_date(&status_date, "request.deliveryStatus.statusDate")?;
        let resend = match st.text_of("resendMessage").as_deref() {
            None | Some("NOT_RESEND") => false,
            Some("RESEND") => true,
            Some(other) => {
                return Err(invalid(
                    "request.deliveryStatus.resendMessage",
                    format!("`{other}` is not RESEND or NOT_RESEND"),
                ));
            }
        };
        Ok(DeliveryNotification {
            message_id: required(req, "messageId", p)?,
            service_id: required(req, "serviceId", p)?,
            notification_date,
            receive_status,
            status_date,
            resend,
            error: st.child("error").map(ErrorInfo::from_element),
            sender: SenderInfo::read(required_child(req, "sender", p)?, "request.sender")?,
        })
    }
}

/// A whole SOAP 1.1 envelope around a body element.
pub fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{SOAP_ENV}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

/// A SOAP 1.1 Fault whose detail holds `fault_element` (in `types_ns`) of type ErrorInfo.
pub fn fault_envelope(types_ns: &str, fault_element: &str, e: &ErrorInfo) -> String {
    let code = ErrorCode::ALL
        .iter()
        .find(|c| c.code() == e.code)
        .map(|c| c.soap_fault_code())
        .unwrap_or("soap:Server");
    envelope(&format!(
        "<soap:Fault><faultcode>{code}</faultcode><faultstring>{}: {}</faultstring><detail><typ:{fault_element} xmlns:typ=\"{types_ns}\">{}</typ:{fault_element}></detail></soap:Fault>",
        escape(&e.code),
        escape(&e.message),
        e.content_xml()
    ))
}

/// A parsed SOAP envelope: its root, and which of the root's children is the Body's one
/// element (the operation).
pub struct Envelope {
    pub root: Element,
    /// Index of the Header among the root's children, when there is one.
    pub header: Option<usize>,
    /// Index of the Body among the root's children.
    pub body: usize,
}

impl Envelope {
    pub fn body(&self) -> &Element {
        &self.root.children[self.body]
    }

    pub fn header(&self) -> Option<&Element> {
        self.header.map(|i| &self.root.children[i])
    }

    /// The Body's one element.
    pub fn operation(&self) -> Result<&Element, ErrorInfo> {
        let b = self.body();
        match b.children.as_slice() {
            [op] => Ok(op),
            [] => Err(ErrorInfo::new(
                ErrorCode::NotSoapEnvelope,
                "the soap:Body is empty: it must hold the operation's element",
            )),
            _ => Err(ErrorInfo::new(
                ErrorCode::NotSoapEnvelope,
                "the soap:Body holds more than one element: document/literal SOAP carries one",
            )),
        }
    }
}

/// Reads a SOAP 1.1 envelope, refusing what is not one with the fault that says why.
pub fn read_envelope(src: &[u8]) -> Result<Envelope, ErrorInfo> {
    if src.len() > MAX_BODY {
        return Err(ErrorInfo::new(
            ErrorCode::TooLarge,
            format!(
                "the body is {} bytes; the bus accepts at most {MAX_BODY}",
                src.len()
            ),
        ));
    }
    if std::str::from_utf8(src).is_err() {
        return Err(ErrorInfo::new(
            ErrorCode::MalformedXml,
            "the body is not UTF-8 text",
        ));
    }
    let root = xml::parse(src, Limits::default()).map_err(|e| {
        let code = match e {
            xml::XmlError::Doctype | xml::XmlError::UnknownEntity { .. } => {
                ErrorCode::DoctypeForbidden
            }
            xml::XmlError::TooDeep { .. } | xml::XmlError::TooManyElements { .. } => {
                ErrorCode::TooComplex
            }
            _ => ErrorCode::MalformedXml,
        };
        ErrorInfo::new(code, e.to_string())
    })?;
    if root.name != "Envelope" || root.ns.as_deref() != Some(SOAP_ENV) {
        return Err(ErrorInfo::new(
            ErrorCode::NotSoapEnvelope,
            format!(
                "the root element is {{{}}}{}, not a SOAP 1.1 Envelope ({{{SOAP_ENV}}}Envelope)",
                root.ns.as_deref().unwrap_or(""),
                root.name
            ),
        ));
    }
    let mut header = None;
    let mut body = None;
    for (i, c) in root.children.iter().enumerate() {
        match (c.ns.as_deref(), c.name.as_str()) {
            (Some(SOAP_ENV), "Header") if header.is_none() && body.is_none() => header = Some(i),
            (Some(SOAP_ENV), "Body") if body.is_none() => body = Some(i),
            _ => {
                return Err(ErrorInfo::new(
                    ErrorCode::NotSoapEnvelope,
                    format!(
                        "the Envelope holds an unexpected {{{}}}{}: only one optional Header and then one Body",
                        c.ns.as_deref().unwrap_or(""),
                        c.name
                    ),
                ));
            }
        }
    }
    let body = body.ok_or_else(|| {
        ErrorInfo::new(ErrorCode::NotSoapEnvelope, "the Envelope has no soap:Body")
    })?;
    Ok(Envelope { root, header, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNC: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="urn:payload">
 <s:Body><t:SendMessage xmlns:t="http://bip.bee.kz/SyncChannel/v10/Types"><request>
  <requestInfo><messageId>m-1</messageId><serviceId>GBDFL</serviceId><messageDate>2025-03-18T10:00:00+05:00</messageDate>
   <sender><senderId>fund</senderId><password>x</password></sender>
   <properties><key>k</key><value>v &amp; w</value></properties></requestInfo>
  <requestData><data><p:iin>900101300123</p:iin></data></requestData></request></t:SendMessage></s:Body></s:Envelope>"#;

    #[test]
    fn a_sync_request_reads_field_by_field_and_writes_back_the_same() {
        let env = read_envelope(SYNC.as_bytes()).unwrap();
        let op = env.operation().unwrap();
        assert!(op.is(SYNC_TYPES, "SendMessage"));
        let r = SyncRequest::read(op, SYNC.as_bytes()).unwrap();
        assert_eq!(r.info.message_id, "m-1");
        assert_eq!(r.info.service_id, "GBDFL");
        assert_eq!(r.info.sender.sender_id, "fund");
        assert_eq!(r.info.properties[0].value, "v & w");
        let data = r.data.data.clone().unwrap();
        assert!(
            data.starts_with("<data xmlns:s=") && data.contains(r#"xmlns:p="urn:payload""#),
            "the payload keeps its namespace: {data}"
        );
        let again = envelope(&r.write());
        let env2 = read_envelope(again.as_bytes()).unwrap();
        let r2 = SyncRequest::read(env2.operation().unwrap(), again.as_bytes()).unwrap();
        assert_eq!(r2.info, r.info);
        let payload =
            crate::xml::parse(r2.data.data.unwrap().as_bytes(), Default::default()).unwrap();
        assert!(payload.children[0].is("urn:payload", "iin"));
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        let no_service = SYNC.replace("<serviceId>GBDFL</serviceId>", "");
        let env = read_envelope(no_service.as_bytes()).unwrap();
        let e = SyncRequest::read(env.operation().unwrap(), no_service.as_bytes()).unwrap_err();
        assert!(e.is(ErrorCode::MissingField), "{e:?}");
        assert!(e.message.contains("requestInfo.serviceId"), "{}", e.message);
        let bad_date = SYNC.replace("2025-03-18T10:00:00+05:00", "yesterday");
        let env = read_envelope(bad_date.as_bytes()).unwrap();
        let e = SyncRequest::read(env.operation().unwrap(), bad_date.as_bytes()).unwrap_err();
        assert!(e.is(ErrorCode::InvalidField) && e.message.contains("messageDate"));
    }

    #[test]
    fn envelopes_are_checked_before_anything_else() {
        let soap12 = SYNC.replace(
            "http://schemas.xmlsoap.org/soap/envelope/",
            "http://www.w3.org/2003/05/soap-envelope",
        );
        let e = read_envelope(soap12.as_bytes()).err().unwrap();
        assert!(e.is(ErrorCode::NotSoapEnvelope), "{e:?}");
        let e = read_envelope(b"<a>").err().unwrap();
        assert!(e.is(ErrorCode::MalformedXml));
        let e = read_envelope(b"\xff\xfe<a/>").err().unwrap();
        assert!(e.is(ErrorCode::MalformedXml));
        let two = SYNC.replace("</s:Body>", "</s:Body><s:Body/>");
        assert!(
            read_envelope(two.as_bytes())
                .err()
                .unwrap()
                .is(ErrorCode::NotSoapEnvelope)
        );
        let big = vec![b' '; MAX_BODY + 1];
        assert!(read_envelope(&big).err().unwrap().is(ErrorCode::TooLarge));
    }

    #[test]
    fn faults_carry_error_info_in_the_channel_namespace() {
        let f = fault_envelope(
            SYNC_TYPES,
            "SendMessageFault1_SendMessageFault",
            &ErrorInfo::new(ErrorCode::AccessDenied, "no access"),
        );
        let env = read_envelope(f.as_bytes()).unwrap();
        let fault = env.operation().unwrap();
        assert!(fault.is(SOAP_ENV, "Fault"));
        assert_eq!(fault.text_of("faultcode").as_deref(), Some("soap:Client"));
        let detail = fault.child("detail").unwrap();
        let info = &detail.children[0];
        assert!(info.is(SYNC_TYPES, "SendMessageFault1_SendMessageFault"));
        assert_eq!(ErrorInfo::from_element(info).code, "SHEP-202");
    }
}
