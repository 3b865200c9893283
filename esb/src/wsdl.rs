//! The WSDL 1.1 documents of the two channels, written from the contract's facts
//! (shared/rules/BUS-CONTRACT.md): document/literal SOAP 1.1, `soapAction=""`, wrappers
//! qualified in the channel's Types namespace, inner elements unqualified, shared types in
//! the common namespace. The published SHEP WSDLs are not shipped (unlicensed); these keep the
//! same element names and shapes, so a client generated from either talks to the other.

use crate::contract::{ASYNC_IFACE, ASYNC_TYPES, COMMON_TYPES, SYNC_IFACE, SYNC_TYPES};
use crate::xml::escape;

fn common_schema() -> String {
    format!(
        r#"<xsd:schema targetNamespace="{COMMON_TYPES}" xmlns:com="{COMMON_TYPES}" elementFormDefault="unqualified">
   <xsd:simpleType name="guid"><xsd:restriction base="xsd:string"><xsd:pattern value="[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}"/></xsd:restriction></xsd:simpleType>
   <xsd:complexType name="SenderInfo"><xsd:sequence>
    <xsd:element name="senderId" type="xsd:string"/>
    <xsd:element name="password" type="xsd:string" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="Property"><xsd:sequence>
    <xsd:element name="key" type="xsd:string"/>
    <xsd:element name="value" type="xsd:string" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="StatusInfo"><xsd:sequence>
    <xsd:element name="code" type="xsd:string"/>
    <xsd:element name="message" minOccurs="0"><xsd:simpleType><xsd:restriction base="xsd:string"><xsd:maxLength value="250"/></xsd:restriction></xsd:simpleType></xsd:element>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="MessageData"><xsd:sequence>
    <xsd:element name="data" type="xsd:anyType" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="ErrorInfo"><xsd:sequence>
    <xsd:element name="errorCode" type="xsd:string"/>
    <xsd:element name="errorMessage" type="xsd:string"/>
    <xsd:element name="errorData" type="xsd:string" minOccurs="0"/>
    <xsd:element name="errorDate" type="xsd:dateTime"/>
    <xsd:element name="subError" type="com:ErrorInfo" minOccurs="0"/>
    <xsd:element name="sessionId" type="xsd:string" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="DeliveryStatus"><xsd:sequence>
    <xsd:element name="receiveStatus"><xsd:simpleType><xsd:restriction base="xsd:string"><xsd:enumeration value="MESSAGE_ACCEPTED"/><xsd:enumeration value="MESSAGE_NOT_ACCTEPTED"/></xsd:restriction></xsd:simpleType></xsd:element>
    <xsd:element name="statusDate" type="xsd:dateTime"/>
    <xsd:element name="resendMessage" minOccurs="0"><xsd:simpleType><xsd:restriction base="xsd:string"><xsd:enumeration value="RESEND"/><xsd:enumeration value="NOT_RESEND"/></xsd:restriction></xsd:simpleType></xsd:element>
    <xsd:element name="error" type="com:ErrorInfo" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:simpleType name="MessageState"><xsd:restriction base="xsd:string"><xsd:enumeration value="ON_DELIVERY"/><xsd:enumeration value="DELIVERED"/><xsd:enumeration value="NOT_DELIVERED"/><xsd:enumeration value="DELIVERY_STOPPED"/></xsd:restriction></xsd:simpleType>
  </xsd:schema>"#
    )
}

fn definitions(tns: &str, types: &str, schema: &str, rest: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{tns}" xmlns:typ="{types}" xmlns:com="{COMMON_TYPES}" targetNamespace="{tns}">
 <wsdl:types>
  {common}
  {schema}
 </wsdl:types>
{rest}
</wsdl:definitions>
"#,
        common = common_schema()
    )
}

/// The synchronous channel's WSDL, its port at `location`.
pub fn sync_wsdl(location: &str) -> String {
    let schema = format!(
        r#"<xsd:schema targetNamespace="{SYNC_TYPES}" xmlns:typ="{SYNC_TYPES}" xmlns:com="{COMMON_TYPES}" elementFormDefault="unqualified">
   <xsd:import namespace="{COMMON_TYPES}"/>
   <xsd:complexType name="SyncMessageInfo"><xsd:sequence>
    <xsd:element name="messageId" type="xsd:string"/>
    <xsd:element name="correlationId" type="xsd:string" minOccurs="0"/>
    <xsd:element name="serviceId" type="xsd:string"/>
    <xsd:element name="messageDate" type="xsd:dateTime"/>
    <xsd:element name="routeId" type="xsd:string" minOccurs="0"/>
    <xsd:element name="sender" type="com:SenderInfo"/>
    <xsd:element name="properties" type="com:Property" minOccurs="0" maxOccurs="unbounded"/>
    <xsd:element name="sessionId" type="com:guid" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="SyncSendMessageRequest"><xsd:sequence>
    <xsd:element name="requestInfo" type="typ:SyncMessageInfo"/>
    <xsd:element name="requestData" type="com:MessageData"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="SyncMessageInfoResponse"><xsd:sequence>
    <xsd:element name="messageId" type="xsd:string"/>
    <xsd:element name="correlationId" type="xsd:string" minOccurs="0"/>
    <xsd:element name="responseDate" type="xsd:dateTime"/>
    <xsd:element name="status" type="com:StatusInfo"/>
    <xsd:element name="sessionId" type="com:guid" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="SyncSendMessageResponse"><xsd:sequence>
    <xsd:element name="responseInfo" type="typ:SyncMessageInfoResponse"/>
    <xsd:element name="responseData" type="com:MessageData"/>
   </xsd:sequence></xsd:complexType>
   <xsd:element name="SendMessage"><xsd:complexType><xsd:sequence><xsd:element name="request" type="typ:SyncSendMessageRequest"/></xsd:sequence></xsd:complexType></xsd:element>
   <xsd:element name="SendMessageResponse"><xsd:complexType><xsd:sequence><xsd:element name="response" type="typ:SyncSendMessageResponse"/></xsd:sequence></xsd:complexType></xsd:element>
   <xsd:element name="SendMessageFault1_SendMessageFault" type="com:ErrorInfo"/>
  </xsd:schema>"#
    );
    let rest = format!(
        r#" <wsdl:message name="SendMessageRequest"><wsdl:part name="parameters" element="typ:SendMessage"/></wsdl:message>
 <wsdl:message name="SendMessageResponse"><wsdl:part name="parameters" element="typ:SendMessageResponse"/></wsdl:message>
 <wsdl:message name="SendMessageFault"><wsdl:part name="fault" element="typ:SendMessageFault1_SendMessageFault"/></wsdl:message>
 <wsdl:portType name="ISyncChannel">
  <wsdl:operation name="SendMessage">
   <wsdl:input message="tns:SendMessageRequest"/>
   <wsdl:output message="tns:SendMessageResponse"/>
   <wsdl:fault name="SendMessageFault" message="tns:SendMessageFault"/>
  </wsdl:operation>
 </wsdl:portType>
 <wsdl:binding name="SyncChannelHttpBinding" type="tns:ISyncChannel">
  <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
  <wsdl:operation name="SendMessage">
   <soap:operation soapAction="" style="document"/>
   <wsdl:input><soap:body use="literal"/></wsdl:input>
   <wsdl:output><soap:body use="literal"/></wsdl:output>
   <wsdl:fault name="SendMessageFault"><soap:fault name="SendMessageFault" use="literal"/></wsdl:fault>
  </wsdl:operation>
 </wsdl:binding>
 <wsdl:service name="SyncChannel">
  <wsdl:port name="SyncChannelHttpPort" binding="tns:SyncChannelHttpBinding"><soap:address location="{}"/></wsdl:port>
 </wsdl:service>"#,
        escape(location)
    );
    definitions(SYNC_IFACE, SYNC_TYPES, &schema, &rest)
}

/// The asynchronous channel's operations: name, request type, response type.
const ASYNC_OPS: [&str; 4] = [
    "sendMessage",
    "getMessages",
    "getMessageStatus",
    "sendDeliveryNotification",
];

/// The asynchronous channel's WSDL, its port at `location`.
pub fn async_wsdl(location: &str) -> String {
    let mut elements = String::new();
    for op in ASYNC_OPS {
        let cap = capitalise(op);
        elements.push_str(&format!(
            r#"   <xsd:element name="{op}"><xsd:complexType><xsd:sequence><xsd:element name="request" type="typ:{cap}Request"/></xsd:sequence></xsd:complexType></xsd:element>
   <xsd:element name="{op}Response"><xsd:complexType><xsd:sequence><xsd:element name="response" type="typ:{cap}Response" minOccurs="0"/></xsd:sequence></xsd:complexType></xsd:element>
   <xsd:element name="{op}Fault1_{op}Fault" type="com:ErrorInfo"/>
"#
        ));
    }
    let schema = format!(
        r#"<xsd:schema targetNamespace="{ASYNC_TYPES}" xmlns:typ="{ASYNC_TYPES}" xmlns:com="{COMMON_TYPES}" elementFormDefault="unqualified">
   <xsd:import namespace="{COMMON_TYPES}"/>
   <xsd:simpleType name="MessageType"><xsd:restriction base="xsd:string"><xsd:enumeration value="REQUEST"/><xsd:enumeration value="NOTIFICATION"/><xsd:enumeration value="UPDATE"/><xsd:enumeration value="RESPONSE"/></xsd:restriction></xsd:simpleType>
   <xsd:complexType name="AsyncMessageInfo"><xsd:sequence>
    <xsd:element name="messageId" type="xsd:string" minOccurs="0"/>
    <xsd:element name="correlationId" type="xsd:string" minOccurs="0"/>
    <xsd:element name="serviceId" type="xsd:string"/>
    <xsd:element name="messageType" type="typ:MessageType"/>
    <xsd:element name="routeId" type="xsd:string" minOccurs="0"/>
    <xsd:element name="messageDate" type="xsd:dateTime"/>
    <xsd:element name="sender" type="com:SenderInfo"/>
    <xsd:element name="properties" type="com:Property" minOccurs="0" maxOccurs="unbounded"/>
    <xsd:element name="sessionId" type="com:guid" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="SendMessageRequest"><xsd:sequence>
    <xsd:element name="messageInfo" type="typ:AsyncMessageInfo"/>
    <xsd:element name="messageData" type="com:MessageData"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="SendMessageResponse"><xsd:sequence>
    <xsd:element name="messageId" type="xsd:string"/>
    <xsd:element name="correlationId" type="xsd:string"/>
    <xsd:element name="responseDate" type="xsd:dateTime"/>
    <xsd:element name="sessionId" type="com:guid"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="GetMessagesRequest"><xsd:sequence>
    <xsd:element name="serviceId" type="xsd:string"/>
    <xsd:element name="messageId" type="xsd:string" minOccurs="0"/>
    <xsd:element name="correlationId" type="xsd:string" minOccurs="0"/>
    <xsd:element name="requestDate" type="xsd:dateTime" minOccurs="0"/>
    <xsd:element name="sender" type="com:SenderInfo"/>
    <xsd:element name="amount" type="xsd:int" minOccurs="0"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="GetMessagesResponse"><xsd:sequence>
    <xsd:element name="messages" type="typ:SendMessageRequest" minOccurs="0" maxOccurs="unbounded"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="GetMessageStatusRequest"><xsd:sequence>
    <xsd:element name="messageId" type="xsd:string"/>
    <xsd:element name="sender" type="com:SenderInfo"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="GetMessageStatusResponse"><xsd:sequence>
    <xsd:element name="messageId" type="xsd:string"/>
    <xsd:element name="messageState" type="com:MessageState"/>
    <xsd:element name="statusDate" type="xsd:dateTime"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="SendDeliveryNotificationRequest"><xsd:sequence>
    <xsd:element name="messageId" type="xsd:string"/>
    <xsd:element name="serviceId" type="xsd:string"/>
    <xsd:element name="notificationDate" type="xsd:dateTime"/>
    <xsd:element name="deliveryStatus" type="com:DeliveryStatus"/>
    <xsd:element name="sender" type="com:SenderInfo"/>
   </xsd:sequence></xsd:complexType>
   <xsd:complexType name="SendDeliveryNotificationResponse"><xsd:sequence>
    <xsd:element name="messageId" type="xsd:string"/>
   </xsd:sequence></xsd:complexType>
{elements}  </xsd:schema>"#
    );
    let mut rest = String::new();
    for op in ASYNC_OPS {
        rest.push_str(&format!(
            r#" <wsdl:message name="{op}Request"><wsdl:part name="parameters" element="typ:{op}"/></wsdl:message>
 <wsdl:message name="{op}Response"><wsdl:part name="parameters" element="typ:{op}Response"/></wsdl:message>
 <wsdl:message name="{op}Fault"><wsdl:part name="fault" element="typ:{op}Fault1_{op}Fault"/></wsdl:message>
"#
        ));
    }
    rest.push_str(" <wsdl:portType name=\"IAsyncChannel\">\n");
    for op in ASYNC_OPS {
        rest.push_str(&format!(
            r#"  <wsdl:operation name="{op}"><wsdl:input message="tns:{op}Request"/><wsdl:output message="tns:{op}Response"/><wsdl:fault name="{op}Fault" message="tns:{op}Fault"/></wsdl:operation>
"#
        ));
    }
    rest.push_str(" </wsdl:portType>\n <wsdl:binding name=\"AsyncChannelHttpBinding\" type=\"tns:IAsyncChannel\">\n  <soap:binding style=\"document\" transport=\"http://schemas.xmlsoap.org/soap/http\"/>\n");
    for op in ASYNC_OPS {
        rest.push_str(&format!(
            r#"  <wsdl:operation name="{op}"><soap:operation soapAction="" style="document"/><wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output><wsdl:fault name="{op}Fault"><soap:fault name="{op}Fault" use="literal"/></wsdl:fault></wsdl:operation>
"#
        ));
    }
    rest.push_str(&format!(
        " </wsdl:binding>\n <wsdl:service name=\"AsyncChannel\">\n  <wsdl:port name=\"AsyncChannelHttpPort\" binding=\"tns:AsyncChannelHttpBinding\"><soap:address location=\"{}\"/></wsdl:port>\n </wsdl:service>",
        escape(location)
    ));
    definitions(ASYNC_IFACE, ASYNC_TYPES, &schema, &rest)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both WSDLs are well-formed, and every message part names an element their schemas
    /// declare (what a stock client resolves first).
    #[test]
    fn every_part_names_a_declared_element() {
        for w in [
            sync_wsdl("http://h/SyncChannel/v10"),
            async_wsdl("http://h/AsyncChannel/v10"),
        ] {
            let root = crate::xml::parse(w.as_bytes(), Default::default()).unwrap();
            let declared: Vec<String> = root
                .descendants()
                .into_iter()
                .filter(|e| {
                    e.name == "element" && e.attr(None, "type").is_some()
                        || e.name == "element" && e.children.iter().any(|c| c.name == "complexType")
                })
                .filter_map(|e| e.attr(None, "name").map(str::to_string))
                .collect();
            let parts: Vec<&str> = root
                .descendants()
                .into_iter()
                .filter(|e| e.name == "part")
                .filter_map(|e| e.attr(None, "element"))
                .collect();
            assert!(!parts.is_empty());
            for p in parts {
                let local = p.trim_start_matches("typ:");
                assert!(declared.iter().any(|d| d == local), "{p} is not declared");
            }
        }
    }
}
