//! The A2A agent message and its lossless mapping to and from a CloudEvent.
//!
//! | A2A                          | CloudEvent                                              |
//! |------------------------------|---------------------------------------------------------|
//! | `protocol` ("A2A")           | extension `protocol`                                    |
//! | `version`                    | extension `protocolversion`                             |
//! | `messageId`                  | `id`                                                    |
//! | `timestamp`                  | `time`                                                  |
//! | `messageType`                | extension `messagetype`; `type` = `a2a.<messageType>`   |
//! | `sourceAgent.agentId`        | extension `sourceagent`; `source` = `/agents/<agentId>` |
//! | `sourceAgent.agentType`      | extension `sourceagenttype`                             |
//! | `sourceAgent.capabilities`   | extension `agentcapabilities` (comma-separated)         |
//! | `targetAgent.*`              | `targetagent`, `targetagenttype`, `targetagentcapabilities` |
//! | `payload`                    | `data`, `datacontenttype` = `application/json`          |
//! | `metadata.priority`          | extension `priority`                                    |
//! | `metadata.ttl`               | extension `ttl` (integer)                               |
//! | `metadata.correlationId`     | extension `correlationid`                               |
//! | `metadata.collaborationId`   | extension `collaborationid`                             |
//! | `metadata.traceparent`       | extension `traceparent`                                 |
//!
//! An optional field that is absent has no extension; one that is explicitly `null` is an
//! extension with the empty string (which a present value may never be), so both survive.

use std::borrow::Cow;

use crate::error::{Error, Result};

use super::a2a_json::{read_a2a_event_json, read_a2a_json};
use super::event::{
    check_string, extension_value, insert_extension, is_json_media_type, CloudEvent, Data, EventParts, Extension,
    Extensions,
};
use super::time::rfc3339_problem;
use super::value::{write_value, Texts, Value};

pub const PROTOCOL: &str = "A2A";
pub const PRIORITIES: [&str; 3] = ["HIGH", "NORMAL", "LOW"];
const JSON: &str = "application/json";

#[derive(Debug, Clone, PartialEq)]
pub struct Agent<'a> {
    pub agent_id: Cow<'a, str>,
    pub agent_type: Cow<'a, str>,
    pub capabilities: Vec<Cow<'a, str>>,
}

/// An optional A2A field: `null` and absent are different messages.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub enum Optional<T> {
    #[default]
    Absent,
    Null,
    Present(T),
}

impl<T> Optional<T> {
    pub fn as_ref(&self) -> Optional<&T> {
        match self {
            Optional::Absent => Optional::Absent,
            Optional::Null => Optional::Null,
            Optional::Present(value) => Optional::Present(value),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct A2aMessage<'a> {
    pub version: Cow<'a, str>,
    pub message_id: Cow<'a, str>,
    pub timestamp: Cow<'a, str>,
    pub source_agent: Agent<'a>,
    pub target_agent: Optional<Agent<'a>>,
    pub message_type: Cow<'a, str>,
    pub payload: Value<'a>,
    pub priority: &'static str,
    pub ttl: i32,
    pub correlation_id: Cow<'a, str>,
    pub collaboration_id: Optional<Cow<'a, str>>,
    pub traceparent: Optional<Cow<'a, str>>,
}

type Members<'a> = Vec<(Cow<'a, str>, Value<'a>)>;

/// The errors of a message field's presence and JSON type, worded once for every reader (the
/// JSON readers here, and a binding reading its own objects).
pub mod field_error {
    use crate::error::Error;

    pub fn missing(path: &str) -> Error {
        Error::validation(path, "required field is missing")
    }

    pub fn unknown(path: impl Into<String>) -> Error {
        Error::validation(path, "unknown field")
    }

    /// A field that must be `expected` (`"a string"`, `"an object"`...) holds a value of JSON type `kind`.
    pub fn not(path: &str, expected: &str, kind: &str) -> Error {
        Error::validation(path, format!("must be {expected}, not {kind}"))
    }
}

use field_error::{missing, not};

fn take<'a>(members: &mut Members<'a>, key: &str) -> Option<Value<'a>> {
    let at = members.iter().position(|(k, _)| k == key)?;
    Some(members.swap_remove(at).1)
}

fn no_extra_keys(members: &[(Cow<'_, str>, Value<'_>)], prefix: &str) -> Result<()> {
    match members.first() {
        Some((key, _)) => Err(field_error::unknown(format!("{prefix}{key}"))),
        None => Ok(()),
    }
}

fn object<'a>(value: Option<Value<'a>>, path: &str) -> Result<Members<'a>> {
    match value {
        Some(Value::Object(members)) => Ok(members),
        Some(other) => Err(not(path, "an object", other.kind())),
        None => Err(missing(path)),
    }
}

fn check_text(s: &str, path: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::validation(path, "must be a non-empty string"));
    }
    check_string(path, s)
}

fn text<'a>(value: Option<Value<'a>>, path: &str) -> Result<Cow<'a, str>> {
    match value {
        Some(Value::Str(s)) => check_text(&s, path).map(|()| s),
        Some(other) => Err(not(path, "a string", other.kind())),
        None => Err(missing(path)),
    }
}

fn optional_text<'a>(value: Option<Value<'a>>, path: &str) -> Result<Optional<Cow<'a, str>>> {
    match value {
        None => Ok(Optional::Absent),
        Some(Value::Null) => Ok(Optional::Null),
        some => text(some, path).map(Optional::Present),
    }
}

fn check_capability(capability: &str, path: &str) -> Result<()> {
    if capability.is_empty() || capability.contains(',') {
        return Err(Error::validation(path, "capabilities must be non-empty strings without commas"));
    }
    check_string(path, capability)
}

/// Field paths of an agent object, spelled out so the valid path formats nothing.
pub struct AgentPaths {
    pub agent: &'static str,
    pub id: &'static str,
    pub kind: &'static str,
    pub capabilities: &'static str,
}

pub const SOURCE_AGENT: AgentPaths = AgentPaths {
    agent: "sourceAgent",
    id: "sourceAgent.agentId",
    kind: "sourceAgent.agentType",
    capabilities: "sourceAgent.capabilities",
};
pub const TARGET_AGENT: AgentPaths = AgentPaths {
    agent: "targetAgent",
    id: "targetAgent.agentId",
    kind: "targetAgent.agentType",
    capabilities: "targetAgent.capabilities",
};

fn agent<'a>(value: Value<'a>, paths: &AgentPaths) -> Result<Agent<'a>> {
    let path = paths.agent;
    let mut members = object(Some(value), path)?;
    let agent_id = text(take(&mut members, "agentId"), paths.id)?;
    let agent_type = text(take(&mut members, "agentType"), paths.kind)?;
    let caps_path = paths.capabilities;
    let capabilities = match take(&mut members, "capabilities") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::Str(s) => check_capability(&s, caps_path).map(|()| s),
                other => Err(Error::validation(caps_path, format!("items must be strings, not {}", other.kind()))),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(other) => return Err(not(caps_path, "an array", other.kind())),
        None => return Err(missing(caps_path)),
    };
    if !members.is_empty() {
        no_extra_keys(&members, &format!("{path}."))?;
    }
    Ok(Agent { agent_id, agent_type, capabilities })
}

fn priority(value: &str, path: &str) -> Result<&'static str> {
    PRIORITIES
        .into_iter()
        .find(|p| *p == value)
        .ok_or_else(|| Error::validation(path, format!("must be HIGH, NORMAL or LOW, not {value:?}")))
}

/// A `ttl` as a reader found it: an integer, or a value of another JSON type (named).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TtlValue<'k> {
    Int(i64),
    UInt(u64),
    Other(&'k str),
}

fn ttl(value: Option<Value<'_>>, path: &str) -> Result<i32> {
    match value {
        Some(Value::Int(i)) => ttl_of(TtlValue::Int(i), path),
        Some(Value::UInt(u)) => ttl_of(TtlValue::UInt(u), path),
        Some(other) => ttl_of(TtlValue::Other(other.kind()), path),
        None => Err(missing(path)),
    }
}

fn ttl_of(value: TtlValue<'_>, path: &str) -> Result<i32> {
    let range = "must be an integer from 0 to 2147483647 (a CloudEvents Integer)";
    match value {
        TtlValue::Int(i) => i32::try_from(i).ok().filter(|t| *t >= 0).ok_or_else(|| Error::validation(path, range)),
        TtlValue::UInt(_) => Err(Error::validation(path, range)),
        TtlValue::Other(kind) => Err(not(path, "an integer", kind)),
    }
}

/// `protocol` is A2A's.
fn check_protocol(protocol: &str) -> Result<()> {
    match protocol {
        PROTOCOL => Ok(()),
        "" => Err(Error::validation("protocol", "must be a non-empty string")),
        other => Err(Error::validation("protocol", format!("must be \"A2A\", not {other:?}"))),
    }
}

impl<'a> A2aMessage<'a> {
    /// `priority` as its canonical static text, if it is one of [`PRIORITIES`].
    pub fn priority(value: &str) -> Result<&'static str> {
        priority(value, "metadata.priority")
    }

    /// The rule of the `protocol` field, for a reader of its own objects.
    pub fn check_protocol(protocol: &str) -> Result<()> {
        check_protocol(protocol)
    }

    /// The rule of the `metadata.ttl` field, for a reader of its own objects.
    pub fn ttl(value: TtlValue<'_>) -> Result<i32> {
        ttl_of(value, "metadata.ttl")
    }

    /// Validates an A2A message given as a JSON-like value; errors name the field (`metadata.ttl`).
    pub fn from_value(value: Value<'a>) -> Result<Self> {
        let mut m = match value {
            Value::Object(members) => members,
            other => return Err(not("message", "an object", other.kind())),
        };
        let protocol = text(take(&mut m, "protocol"), "protocol")?;
        check_protocol(&protocol)?;
        let version = text(take(&mut m, "version"), "version")?;
        let message_id = text(take(&mut m, "messageId"), "messageId")?;
        let timestamp = text(take(&mut m, "timestamp"), "timestamp")?;
        if let Some(problem) = rfc3339_problem(&timestamp) {
            return Err(Error::validation("timestamp", problem));
        }
        let source_agent = agent(take(&mut m, "sourceAgent").ok_or_else(|| missing("sourceAgent"))?, &SOURCE_AGENT)?;
        let target_agent = match take(&mut m, "targetAgent") {
            None => Optional::Absent,
            Some(Value::Null) => Optional::Null,
            Some(value) => Optional::Present(agent(value, &TARGET_AGENT)?),
        };
        let message_type = text(take(&mut m, "messageType"), "messageType")?;
        let payload = take(&mut m, "payload").ok_or_else(|| missing("payload"))?;
        let mut meta = object(take(&mut m, "metadata"), "metadata")?;
        no_extra_keys(&m, "")?;
        let priority = match take(&mut meta, "priority") {
            Some(Value::Str(p)) => priority(&p, "metadata.priority")?,
            Some(other) => return Err(not("metadata.priority", "a string", other.kind())),
            None => return Err(missing("metadata.priority")),
        };
        let ttl = ttl(take(&mut meta, "ttl"), "metadata.ttl")?;
        let correlation_id = text(take(&mut meta, "correlationId"), "metadata.correlationId")?;
        let collaboration_id = optional_text(take(&mut meta, "collaborationId"), "metadata.collaborationId")?;
        let traceparent = optional_text(take(&mut meta, "traceparent"), "metadata.traceparent")?;
        no_extra_keys(&meta, "metadata.")?;
        Ok(A2aMessage {
            version,
            message_id,
            timestamp,
            source_agent,
            target_agent,
            message_type,
            payload,
            priority,
            ttl,
            correlation_id,
            collaboration_id,
            traceparent,
        })
    }

    /// Checks a message assembled field by field (by a binding reading its own objects) against
    /// the rules [`A2aMessage::from_value`] applies to text: non-empty CloudEvents strings, an
    /// RFC 3339 timestamp, capabilities without commas. Types, `priority` and `ttl` are the
    /// assembler's to check.
    pub fn check_text(&self) -> Result<()> {
        fn agent(a: &Agent<'_>, paths: &AgentPaths) -> Result<()> {
            check_text(&a.agent_id, paths.id)?;
            check_text(&a.agent_type, paths.kind)?;
            a.capabilities.iter().try_for_each(|c| check_capability(c, paths.capabilities))
        }
        fn optional(value: &Optional<Cow<'_, str>>, path: &str) -> Result<()> {
            match value {
                Optional::Present(text) => check_text(text, path),
                _ => Ok(()),
            }
        }
        check_text(&self.version, "version")?;
        check_text(&self.message_id, "messageId")?;
        check_text(&self.timestamp, "timestamp")?;
        if let Some(problem) = rfc3339_problem(&self.timestamp) {
            return Err(Error::validation("timestamp", problem));
        }
        agent(&self.source_agent, &SOURCE_AGENT)?;
        if let Optional::Present(target) = &self.target_agent {
            agent(target, &TARGET_AGENT)?;
        }
        check_text(&self.message_type, "messageType")?;
        check_text(&self.correlation_id, "metadata.correlationId")?;
        optional(&self.collaboration_id, "metadata.collaborationId")?;
        optional(&self.traceparent, "metadata.traceparent")
    }

    /// The message as a CloudEvent (see the module table).
    pub fn into_event(self) -> CloudEvent<'a> {
        let mut ext = Vec::with_capacity(14);
        let mut push = |name: &'static str, value: Extension<'a>| ext.push((Cow::Borrowed(name), value));
        push("protocol", Extension::Str(Cow::Borrowed(PROTOCOL)));
        push("protocolversion", Extension::Str(self.version));
        push("messagetype", Extension::Str(self.message_type.clone()));
        let source = format!("/agents/{}", self.source_agent.agent_id);
        push("sourceagent", Extension::Str(self.source_agent.agent_id));
        push("sourceagenttype", Extension::Str(self.source_agent.agent_type));
        push("agentcapabilities", Extension::Str(self.source_agent.capabilities.join(",").into()));
        match self.target_agent {
            Optional::Absent => {}
            Optional::Null => push("targetagent", Extension::Str(Cow::Borrowed(""))),
            Optional::Present(target) => {
                push("targetagent", Extension::Str(target.agent_id));
                push("targetagenttype", Extension::Str(target.agent_type));
                push("targetagentcapabilities", Extension::Str(target.capabilities.join(",").into()));
            }
        }
        push("priority", Extension::Str(Cow::Borrowed(self.priority)));
        push("ttl", Extension::Int(self.ttl));
        push("correlationid", Extension::Str(self.correlation_id));
        for (name, value) in [("collaborationid", self.collaboration_id), ("traceparent", self.traceparent)] {
            match value {
                Optional::Absent => {}
                Optional::Null => push(name, Extension::Str(Cow::Borrowed(""))),
                Optional::Present(text) => push(name, Extension::Str(text)),
            }
        }
        CloudEvent {
            id: self.message_id,
            source: source.into(),
            ty: format!("a2a.{}", self.message_type).into(),
            time: Some(self.timestamp),
            datacontenttype: Some(Cow::Borrowed(JSON)),
            dataschema: None,
            subject: None,
            extensions: ext,
            data: Some(Data::Json(self.payload)),
        }
    }

    /// Reads an A2A message back from a CloudEvent. Attributes that A2A has no field for
    /// (`subject`, `dataschema`, other extensions) are not part of the message.
    pub fn from_event(event: CloudEvent<'a>) -> Result<Self> {
        let CloudEvent { id, source, ty, time, datacontenttype, dataschema, subject, extensions, data } = event;
        let mut slots = A2aExtensions::default();
        for (name, value) in extensions {
            slots.add(name, value);
        }
        Self::from_parts(EventParts {
            id,
            source,
            ty,
            time,
            datacontenttype,
            dataschema,
            subject,
            extensions: slots,
            data,
        })
    }

    /// Reads an A2A message from a checked event whose A2A extensions are in their slots.
    pub fn from_parts(event: EventParts<'a, A2aExtensions<'a>>) -> Result<Self> {
        let EventParts { id, time, datacontenttype, mut extensions, data, .. } = event;
        let mut ext = |at: usize| -> Option<Extension<'a>> { extensions.slots[at].take() };
        fn string<'a>(value: Option<Extension<'a>>, name: &str) -> Result<Option<Cow<'a, str>>> {
            match value {
                None => Ok(None),
                Some(Extension::Str(s)) => Ok(Some(s)),
                Some(_) => Err(Error::validation(name, "must be a string")),
            }
        }
        let required = |value: Option<Extension<'a>>, name: &str| -> Result<Cow<'a, str>> {
            match string(value, name)? {
                Some(s) if !s.is_empty() => Ok(s),
                Some(_) => Err(Error::validation(name, "must be a non-empty string")),
                None => Err(Error::validation(name, "required A2A extension is missing")),
            }
        };
        let optional = |value: Option<Extension<'a>>, name: &str| -> Result<Optional<Cow<'a, str>>> {
            Ok(match string(value, name)? {
                None => Optional::Absent,
                Some(s) if s.is_empty() => Optional::Null,
                Some(s) => Optional::Present(s),
            })
        };
        let capabilities = |text: Cow<'a, str>, name: &str| -> Result<Vec<Cow<'a, str>>> {
            match text {
                _ if text.is_empty() => Ok(Vec::new()),
                Cow::Borrowed(text) => {
                    text.split(',').map(|c| check_capability(c, name).map(|()| Cow::Borrowed(c))).collect()
                }
                Cow::Owned(text) => {
                    text.split(',').map(|c| check_capability(c, name).map(|()| Cow::Owned(c.to_owned()))).collect()
                }
            }
        };
        let protocol = required(ext(slot::PROTOCOL), "protocol")?;
        if protocol != PROTOCOL {
            return Err(Error::validation("protocol", format!("must be \"A2A\", not {protocol:?}")));
        }
        let version = required(ext(slot::PROTOCOLVERSION), "protocolversion")?;
        let message_type = required(ext(slot::MESSAGETYPE), "messagetype")?;
        let source_agent = Agent {
            agent_id: required(ext(slot::SOURCEAGENT), "sourceagent")?,
            agent_type: required(ext(slot::SOURCEAGENTTYPE), "sourceagenttype")?,
            capabilities: capabilities(
                string(ext(slot::AGENTCAPABILITIES), "agentcapabilities")?
                    .ok_or_else(|| Error::validation("agentcapabilities", "required A2A extension is missing"))?,
                "agentcapabilities",
            )?,
        };
        let target_agent = match optional(ext(slot::TARGETAGENT), "targetagent")? {
            Optional::Absent => Optional::Absent,
            Optional::Null => Optional::Null,
            Optional::Present(agent_id) => Optional::Present(Agent {
                agent_id,
                agent_type: required(ext(slot::TARGETAGENTTYPE), "targetagenttype")?,
                capabilities: capabilities(
                    string(ext(slot::TARGETAGENTCAPABILITIES), "targetagentcapabilities")?.ok_or_else(|| {
                        Error::validation("targetagentcapabilities", "required A2A extension is missing")
                    })?,
                    "targetagentcapabilities",
                )?,
            }),
        };
        let priority = priority(&required(ext(slot::PRIORITY), "priority")?, "priority")?;
        // Bindings that carry attributes as text (Kafka headers) deliver the integer as a string.
        let ttl = match ext(slot::TTL) {
            Some(Extension::Int(t)) => Some(t),
            Some(Extension::Str(s)) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse::<i32>().ok(),
            Some(_) => None,
            None => return Err(Error::validation("ttl", "required A2A extension is missing")),
        }
        .filter(|t| *t >= 0)
        .ok_or_else(|| Error::validation("ttl", "must be an integer from 0 to 2147483647"))?;
        let correlation_id = required(ext(slot::CORRELATIONID), "correlationid")?;
        let collaboration_id = optional(ext(slot::COLLABORATIONID), "collaborationid")?;
        let traceparent = optional(ext(slot::TRACEPARENT), "traceparent")?;
        if let Some(ct) = &datacontenttype {
            if !is_json_media_type(ct) {
                return Err(Error::validation("datacontenttype", "an A2A payload is JSON"));
            }
        }
        let payload = match data {
            Some(Data::Json(value)) => value,
            Some(Data::Binary(_)) => return Err(Error::validation("data", "an A2A payload is JSON, not binary")),
            None => return Err(Error::validation("data", "an A2A event carries its payload as data")),
        };
        Ok(A2aMessage {
            version,
            message_id: id,
            timestamp: time.ok_or_else(|| Error::validation("time", "an A2A event needs its timestamp"))?,
            source_agent,
            target_agent,
            message_type,
            payload,
            priority,
            ttl,
            correlation_id,
            collaboration_id,
            traceparent,
        })
    }

    /// Appends the message as its CloudEvent in the JSON format, byte for byte what
    /// `into_event().write_json` writes but without building the event; `payload` writes `data`.
    /// The message must be valid (as [`A2aMessage::from_value`] and [`A2aMessage::check_text`] make sure).
    pub fn write_event_json(
        &self,
        out: &mut Vec<u8>,
        texts: Texts,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        fn agent(out: &mut Vec<u8>, texts: Texts, a: &Agent<'_>, id: &[u8], kind: &[u8], capabilities: &[u8]) {
            out.extend_from_slice(id);
            texts.write(out, &a.agent_id);
            out.extend_from_slice(kind);
            texts.write(out, &a.agent_type);
            out.extend_from_slice(capabilities);
            out.push(b'"');
            for (i, capability) in a.capabilities.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                texts.escape(out, capability);
            }
            out.push(b'"');
        }
        out.reserve(512);
        out.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
        texts.write(out, &self.message_id);
        out.extend_from_slice(b",\"source\":\"/agents/");
        texts.escape(out, &self.source_agent.agent_id);
        out.extend_from_slice(b"\",\"type\":\"a2a.");
        texts.escape(out, &self.message_type);
        out.extend_from_slice(b"\",\"datacontenttype\":\"application/json\",\"time\":");
        texts.write(out, &self.timestamp);
        out.extend_from_slice(b",\"protocol\":\"A2A\",\"protocolversion\":");
        texts.write(out, &self.version);
        out.extend_from_slice(b",\"messagetype\":");
        texts.write(out, &self.message_type);
        let source = &self.source_agent;
        agent(out, texts, source, b",\"sourceagent\":", b",\"sourceagenttype\":", b",\"agentcapabilities\":");
        match &self.target_agent {
            Optional::Absent => {}
            Optional::Null => out.extend_from_slice(b",\"targetagent\":\"\""),
            Optional::Present(target) => agent(
                out,
                texts,
                target,
                b",\"targetagent\":",
                b",\"targetagenttype\":",
                b",\"targetagentcapabilities\":",
            ),
        }
        self.write_metadata(out, texts, [b",\"priority\":\"", b"\",\"ttl\":", b",\"correlationid\":"]);
        // A null optional field is the empty string, which a present value may never be.
        write_optional(out, texts, b",\"collaborationid\":", &self.collaboration_id, b"\"\"");
        write_optional(out, texts, b",\"traceparent\":", &self.traceparent, b"\"\"");
        out.extend_from_slice(b",\"data\":");
        payload(out)?;
        out.push(b'}');
        Ok(())
    }

    /// Appends the message as A2A JSON, byte for byte what `write_value(into_value())` writes.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<()> {
        self.write_json_with(out, Texts::Any, |out| write_value(out, &self.payload, "payload"))
    }

    /// [`A2aMessage::write_json`] with the payload written by `payload`.
    pub fn write_json_with(
        &self,
        out: &mut Vec<u8>,
        texts: Texts,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        fn agent(out: &mut Vec<u8>, texts: Texts, a: &Agent<'_>) {
            out.extend_from_slice(b"{\"agentId\":");
            texts.write(out, &a.agent_id);
            out.extend_from_slice(b",\"agentType\":");
            texts.write(out, &a.agent_type);
            out.extend_from_slice(b",\"capabilities\":[");
            for (i, c) in a.capabilities.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                texts.write(out, c);
            }
            out.extend_from_slice(b"]}");
        }
        out.reserve(512);
        out.extend_from_slice(b"{\"protocol\":\"A2A\",\"version\":");
        texts.write(out, &self.version);
        out.extend_from_slice(b",\"messageId\":");
        texts.write(out, &self.message_id);
        out.extend_from_slice(b",\"timestamp\":");
        texts.write(out, &self.timestamp);
        out.extend_from_slice(b",\"sourceAgent\":");
        agent(out, texts, &self.source_agent);
        match &self.target_agent {
            Optional::Absent => {}
            Optional::Null => out.extend_from_slice(b",\"targetAgent\":null"),
            Optional::Present(target) => {
                out.extend_from_slice(b",\"targetAgent\":");
                agent(out, texts, target);
            }
        }
        out.extend_from_slice(b",\"messageType\":");
        texts.write(out, &self.message_type);
        out.extend_from_slice(b",\"payload\":");
        payload(out)?;
        self.write_metadata(out, texts, [b",\"metadata\":{\"priority\":\"", b"\",\"ttl\":", b",\"correlationId\":"]);
        write_optional(out, texts, b",\"collaborationId\":", &self.collaboration_id, b"null");
        write_optional(out, texts, b",\"traceparent\":", &self.traceparent, b"null");
        out.extend_from_slice(b"}}");
        Ok(())
    }

    /// The required metadata, each value after its key (written with what goes before it).
    fn write_metadata(&self, out: &mut Vec<u8>, texts: Texts, [priority, ttl, correlation_id]: [&[u8]; 3]) {
        out.extend_from_slice(priority);
        out.extend_from_slice(self.priority.as_bytes());
        out.extend_from_slice(ttl);
        out.extend_from_slice(itoa::Buffer::new().format(self.ttl).as_bytes());
        out.extend_from_slice(correlation_id);
        texts.write(out, &self.correlation_id);
    }

    /// The message as a JSON-like value, fields in their usual order.
    pub fn into_value(self) -> Value<'a> {
        fn agent(a: Agent<'_>) -> Value<'_> {
            Value::Object(vec![
                (Cow::Borrowed("agentId"), Value::Str(a.agent_id)),
                (Cow::Borrowed("agentType"), Value::Str(a.agent_type)),
                (Cow::Borrowed("capabilities"), Value::Array(a.capabilities.into_iter().map(Value::Str).collect())),
            ])
        }
        let mut m = vec![
            (Cow::Borrowed("protocol"), Value::Str(Cow::Borrowed(PROTOCOL))),
            (Cow::Borrowed("version"), Value::Str(self.version)),
            (Cow::Borrowed("messageId"), Value::Str(self.message_id)),
            (Cow::Borrowed("timestamp"), Value::Str(self.timestamp)),
            (Cow::Borrowed("sourceAgent"), agent(self.source_agent)),
        ];
        match self.target_agent {
            Optional::Absent => {}
            Optional::Null => m.push((Cow::Borrowed("targetAgent"), Value::Null)),
            Optional::Present(a) => m.push((Cow::Borrowed("targetAgent"), agent(a))),
        }
        m.push((Cow::Borrowed("messageType"), Value::Str(self.message_type)));
        m.push((Cow::Borrowed("payload"), self.payload));
        let mut meta = vec![
            (Cow::Borrowed("priority"), Value::Str(Cow::Borrowed(self.priority))),
            (Cow::Borrowed("ttl"), Value::Int(i64::from(self.ttl))),
            (Cow::Borrowed("correlationId"), Value::Str(self.correlation_id)),
        ];
        for (name, value) in [("collaborationId", self.collaboration_id), ("traceparent", self.traceparent)] {
            match value {
                Optional::Absent => {}
                Optional::Null => meta.push((Cow::Borrowed(name), Value::Null)),
                Optional::Present(t) => meta.push((Cow::Borrowed(name), Value::Str(t))),
            }
        }
        m.push((Cow::Borrowed("metadata"), Value::Object(meta)));
        Value::Object(m)
    }
}

/// The extensions the A2A mapping reads, each in its own slot; other extension names are only
/// remembered, for the duplicate check.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct A2aExtensions<'a> {
    slots: [Option<Extension<'a>>; 14],
    others: Vec<Cow<'a, str>>,
}

/// Indexes of [`A2aExtensions`] slots.
mod slot {
    pub const PROTOCOL: usize = 0;
    pub const PROTOCOLVERSION: usize = 1;
    pub const MESSAGETYPE: usize = 2;
    pub const SOURCEAGENT: usize = 3;
    pub const SOURCEAGENTTYPE: usize = 4;
    pub const AGENTCAPABILITIES: usize = 5;
    pub const TARGETAGENT: usize = 6;
    pub const TARGETAGENTTYPE: usize = 7;
    pub const TARGETAGENTCAPABILITIES: usize = 8;
    pub const PRIORITY: usize = 9;
    pub const TTL: usize = 10;
    pub const CORRELATIONID: usize = 11;
    pub const COLLABORATIONID: usize = 12;
    pub const TRACEPARENT: usize = 13;
}

fn extension_slot(name: &str) -> Option<usize> {
    Some(match name {
        "protocol" => slot::PROTOCOL,
        "protocolversion" => slot::PROTOCOLVERSION,
        "messagetype" => slot::MESSAGETYPE,
        "sourceagent" => slot::SOURCEAGENT,
        "sourceagenttype" => slot::SOURCEAGENTTYPE,
        "agentcapabilities" => slot::AGENTCAPABILITIES,
        "targetagent" => slot::TARGETAGENT,
        "targetagenttype" => slot::TARGETAGENTTYPE,
        "targetagentcapabilities" => slot::TARGETAGENTCAPABILITIES,
        "priority" => slot::PRIORITY,
        "ttl" => slot::TTL,
        "correlationid" => slot::CORRELATIONID,
        "collaborationid" => slot::COLLABORATIONID,
        "traceparent" => slot::TRACEPARENT,
        _ => return None,
    })
}

impl<'a> Extensions<'a> for A2aExtensions<'a> {
    fn has(&self, name: &str) -> bool {
        match extension_slot(name) {
            Some(at) => self.slots[at].is_some(),
            None => self.others.iter().any(|n| n == name),
        }
    }

    fn add(&mut self, name: Cow<'a, str>, value: Extension<'a>) {
        match extension_slot(&name) {
            Some(at) => self.slots[at] = Some(value),
            None => self.others.push(name),
        }
    }

    /// The same rules as the general insert, with the name looked up once: a known name is valid.
    fn insert(&mut self, name: Cow<'a, str>, value: Value<'a>) -> Result<()> {
        let Some(at) = extension_slot(&name) else {
            return insert_extension(self, name, value);
        };
        if self.slots[at].is_some() {
            return Err(Error::validation(name, "duplicate attribute"));
        }
        self.slots[at] = extension_value(&name, value)?;
        Ok(())
    }
}

/// Appends an optional text field: nothing when absent, `key` and `null` when null.
fn write_optional(out: &mut Vec<u8>, texts: Texts, key: &[u8], value: &Optional<Cow<'_, str>>, null: &[u8]) {
    match value {
        Optional::Absent => {}
        Optional::Null => {
            out.extend_from_slice(key);
            out.extend_from_slice(null);
        }
        Optional::Present(text) => {
            out.extend_from_slice(key);
            texts.write(out, text);
        }
    }
}

/// A2A message → CloudEvent JSON bytes in one step (the hot path of a producer).
pub fn a2a_to_json(message: Value<'_>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(640);
    write_a2a_json(message, &mut out)?;
    Ok(out)
}

/// Appends the CloudEvent JSON of an A2A message to `out`, so a batch can share one buffer.
pub fn write_a2a_json(message: Value<'_>, out: &mut Vec<u8>) -> Result<()> {
    let message = A2aMessage::from_value(message)?;
    message.write_event_json(out, Texts::Any, |out| write_value(out, &message.payload, "payload"))
}

/// CloudEvent JSON bytes → A2A message in one pass, with no event in between (the hot path of a
/// consumer); it accepts and rejects exactly what `from_event(CloudEvent::from_json(..))` does.
pub fn json_to_a2a(input: &[u8]) -> Result<A2aMessage<'_>> {
    let (mut scratch, mut side) = (Vec::new(), String::new());
    let read =
        read_a2a_event_json(input, &mut scratch, &mut side, |p, _| p.value(), |plain, data, _| plain.to_message(data))?;
    Ok(read.unwrap_or_else(|message| message))
}

/// A2A message JSON bytes → CloudEvent JSON bytes, appended to `out`: what a gateway forwards
/// (see [`Converter::a2a_json_to_event_json`]).
pub fn a2a_json_to_event_json(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    with_converter(|converter| converter.a2a_json_to_event_json(input, out))
}

/// CloudEvent JSON bytes → A2A message JSON bytes, appended to `out` (see
/// [`Converter::event_json_to_a2a_json`]).
pub fn event_json_to_a2a_json(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    with_converter(|converter| converter.event_json_to_a2a_json(input, out))
}

/// The bytes-to-bytes conversions with their buffers (the payload as rewritten, and texts read
/// through escapes), which keep their capacity from one conversion to the next: make one per batch.
#[derive(Default)]
pub struct Converter {
    payload: Vec<u8>,
    side: String,
}

impl Converter {
    /// A2A message JSON bytes → CloudEvent JSON bytes, appended to `out`. Accepts and rejects what
    /// `a2a_to_json(parse(input)?)` does; the payload is rewritten as it is read, into a buffer, and
    /// copied into place once the rest of the event is written.
    pub fn a2a_json_to_event_json(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let Converter { payload, side } = self;
        payload.clear();
        side.clear();
        match read_a2a_json(input, payload, side, out)? {
            None => Ok(()),
            Some(message) => message.write_event_json(out, Texts::ReadFromJson, |out| {
                out.extend_from_slice(payload);
                Ok(())
            }),
        }
    }

    /// CloudEvent JSON bytes → A2A message JSON bytes, appended to `out`. The payload is rewritten
    /// as it is read, into a buffer, and copied into place once the fields before it are written.
    pub fn event_json_to_a2a_json(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let Converter { payload, side } = self;
        payload.clear();
        side.clear();
        let read = read_a2a_event_json(
            input,
            payload,
            side,
            |p, payload| p.transcode_standing_in(payload),
            |plain, _, payload| plain.write_a2a_json(payload, out),
        )?;
        match read {
            Ok(()) => Ok(()),
            Err(message) => message.write_json_with(out, Texts::ReadFromJson, |out| {
                out.extend_from_slice(payload);
                Ok(())
            }),
        }
    }
}

thread_local! {
    static CONVERTER: std::cell::Cell<Converter> = std::cell::Cell::new(Converter::default());
}

/// Runs `work` with this thread's converter.
fn with_converter<T>(work: impl FnOnce(&mut Converter) -> T) -> T {
    let mut converter = CONVERTER.take();
    let result = work(&mut converter);
    CONVERTER.set(converter);
    result
}

#[cfg(test)]
mod tests;
