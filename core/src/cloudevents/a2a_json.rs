//! The two JSON readers of A2A messages: the A2A message's own JSON, and its CloudEvent in the
//! JSON event format. Each reads its input once, member by member. A member the mapping knows
//! whose value is plain (printable ASCII text without escapes, a canonical `ttl`, an agent or
//! metadata object of such values) is taken as it stands, with nothing more to check; any other
//! member is read into a [`Value`] where it stands. When every member was plain, the reader hands
//! back the plain texts, which a converter writes out as they stand (they need no escaping);
//! otherwise all members, in their order, go through the general rules ([`A2aMessage::from_value`],
//! or the event rules and [`A2aMessage::from_parts`]), which name what is wrong. Either way the
//! input is scanned once.

use std::borrow::Cow;

use crate::error::{Error, Result};

use super::a2a::{A2aExtensions, A2aMessage, Agent, Optional, PRIORITIES};
use super::event::AttributeReader;
use super::json::{copy_run, Fail, Name, PResult, Parser, Scalar};
use super::time::rfc3339_problem;
use super::value::Value;

/// Why a plain read of one member gave up; never reported: the member is read again as a value.
const GIVE_UP: Fail = Fail { offset: 0, message: "" };

#[cfg(test)]
thread_local! {
    /// How many messages this thread's readers built from plain members alone.
    pub(super) static PLAIN_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts a message built from plain members (in tests, which check that inputs take that branch).
#[inline(always)]
fn plain_read() {
    #[cfg(test)]
    PLAIN_READS.set(PLAIN_READS.get() + 1);
}

/// A member read as a value, with its place among its object's members.
type Other<'a> = (u32, Cow<'a, str>, Value<'a>);

/// Puts members back in the order they were read: plain ones (`(place, name, value)`) among the others.
fn in_order<'a>(plain: impl Iterator<Item = Other<'a>>, mut others: Vec<Other<'a>>) -> Vec<(Cow<'a, str>, Value<'a>)> {
    others.extend(plain);
    others.sort_unstable_by_key(|(place, _, _)| *place);
    others.into_iter().map(|(_, name, value)| (name, value)).collect()
}

/// The priority level `text` names, compared in place (the three are short).
#[inline(always)]
fn priority_level(text: &str) -> Option<&'static str> {
    match text.as_bytes() {
        b"HIGH" => Some(PRIORITIES[0]),
        b"NORMAL" => Some(PRIORITIES[1]),
        b"LOW" => Some(PRIORITIES[2]),
        _ => None,
    }
}

fn text_value(text: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(text))
}

/// The members of an A2A message, in the order its writers give them.
static MESSAGE: [Name; 9] = [
    Name::new("protocol"),
    Name::new("version"),
    Name::new("messageId"),
    Name::new("timestamp"),
    Name::new("sourceAgent"),
    Name::new("targetAgent"),
    Name::new("messageType"),
    Name::new("payload"),
    Name::new("metadata"),
];
static AGENT: [Name; 3] = [Name::new("agentId"), Name::new("agentType"), Name::new("capabilities")];
static METADATA: [Name; 5] = [
    Name::new("priority"),
    Name::new("ttl"),
    Name::new("correlationId"),
    Name::new("collaborationId"),
    Name::new("traceparent"),
];

mod field {
    pub const PROTOCOL: usize = 0;
    pub const VERSION: usize = 1;
    pub const MESSAGE_ID: usize = 2;
    pub const TIMESTAMP: usize = 3;
    pub const SOURCE_AGENT: usize = 4;
    pub const TARGET_AGENT: usize = 5;
    pub const MESSAGE_TYPE: usize = 6;
    pub const PAYLOAD: usize = 7;
    pub const METADATA: usize = 8;
}

/// A non-empty plain text.
#[inline(always)]
fn plain_non_empty<'a>(p: &mut Parser<'a>) -> PResult<&'a str> {
    p.plain_text().filter(|t| !t.is_empty()).ok_or(GIVE_UP)
}

/// An agent whose texts are plain; its capabilities are the inside of their array literal, plain
/// strings without commas between `[` and `]`.
#[derive(Clone, Copy)]
pub(crate) struct PlainAgent<'a> {
    id: &'a str,
    kind: &'a str,
    capabilities: &'a str,
}

impl<'a> PlainAgent<'a> {
    fn capabilities(&self) -> impl Iterator<Item = &'a str> {
        self.capabilities.split('"').skip(1).step_by(2)
    }
}

/// An agent object of plain values, each member once; the rules hold for it as it stands.
fn plain_agent<'a>(p: &mut Parser<'a>) -> PResult<PlainAgent<'a>> {
    let mut agent = PlainAgent { id: "", kind: "", capabilities: "" };
    let mut seen = 0u32;
    p.named_object(&AGENT, |p, at, _| {
        let at = at.filter(|at| seen & (1 << at) == 0).ok_or(GIVE_UP)?;
        seen |= 1 << at;
        match at {
            0 => agent.id = plain_non_empty(p)?,
            1 => agent.kind = plain_non_empty(p)?,
            _ => {
                if p.peek() != Some(b'[') {
                    return Err(GIVE_UP);
                }
                let start = p.offset() + 1;
                p.array(|p| match plain_non_empty(p)? {
                    capability if capability.as_bytes().contains(&b',') => Err(GIVE_UP),
                    _ => Ok(()),
                })?;
                agent.capabilities = p.text_between(start, p.offset() - 1);
            }
        }
        Ok(())
    })?;
    match seen {
        0b111 => Ok(agent),
        _ => Err(GIVE_UP),
    }
}

fn agent_value(agent: PlainAgent<'_>) -> Value<'_> {
    Value::Object(vec![
        (Cow::Borrowed("agentId"), text_value(agent.id)),
        (Cow::Borrowed("agentType"), text_value(agent.kind)),
        (Cow::Borrowed("capabilities"), Value::Array(agent.capabilities().map(text_value).collect())),
    ])
}

/// The metadata of a message, when read as plain.
#[derive(Clone, Copy)]
pub(crate) struct Metadata<'a> {
    priority: &'static str,
    ttl: i32,
    correlation_id: &'a str,
    collaboration_id: Optional<&'a str>,
    traceparent: Optional<&'a str>,
}

fn plain_optional<'a>(p: &mut Parser<'a>) -> PResult<Optional<&'a str>> {
    if p.peek() == Some(b'n') {
        return match p.scalar()? {
            Scalar::Null => Ok(Optional::Null),
            _ => Err(GIVE_UP),
        };
    }
    plain_non_empty(p).map(Optional::Present)
}

fn plain_metadata<'a>(p: &mut Parser<'a>) -> PResult<Metadata<'a>> {
    let mut meta = Metadata {
        priority: "",
        ttl: 0,
        correlation_id: "",
        collaboration_id: Optional::Absent,
        traceparent: Optional::Absent,
    };
    let mut seen = 0u32;
    p.named_object(&METADATA, |p, at, _| {
        let at = at.filter(|at| seen & (1 << at) == 0).ok_or(GIVE_UP)?;
        seen |= 1 << at;
        match at {
            0 => {
                let text = p.plain_text().ok_or(GIVE_UP)?;
                meta.priority = priority_level(text).ok_or(GIVE_UP)?;
            }
            1 => meta.ttl = p.plain_natural().ok_or(GIVE_UP)?,
            2 => meta.correlation_id = plain_non_empty(p)?,
            3 => meta.collaboration_id = plain_optional(p)?,
            _ => meta.traceparent = plain_optional(p)?,
        }
        Ok(())
    })?;
    match seen & 0b111 {
        0b111 => Ok(meta),
        _ => Err(GIVE_UP),
    }
}

fn metadata_value(meta: Metadata<'_>) -> Value<'_> {
    let mut members = vec![
        (Cow::Borrowed("priority"), text_value(meta.priority)),
        (Cow::Borrowed("ttl"), Value::Int(i64::from(meta.ttl))),
        (Cow::Borrowed("correlationId"), text_value(meta.correlation_id)),
    ];
    for (name, value) in [("collaborationId", meta.collaboration_id), ("traceparent", meta.traceparent)] {
        match value {
            Optional::Absent => {}
            Optional::Null => members.push((Cow::Borrowed(name), Value::Null)),
            Optional::Present(text) => members.push((Cow::Borrowed(name), text_value(text))),
        }
    }
    Value::Object(members)
}

/// An A2A message whose members were all plain, as slices of its JSON.
pub(crate) struct PlainA2a<'a> {
    texts: [&'a str; 9],
    source: PlainAgent<'a>,
    target: Optional<PlainAgent<'a>>,
    meta: Metadata<'a>,
}

/// Reads an A2A message from its JSON, its payload rewritten into `payload` as compact JSON (the
/// message holds a stand-in of the same JSON type). A message whose members were all plain is
/// written to `out` as its CloudEvent JSON at once; otherwise the result is the message the general
/// rules read, for the caller to write.
pub(crate) fn read_a2a_json<'a>(
    input: &'a [u8],
    payload_out: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<Option<A2aMessage<'a>>> {
    let mut payload = |p: &mut Parser<'a>| p.transcode_standing_in(payload_out);
    let mut parser = Parser::new(input)?;
    if parser.peek() != Some(b'{') {
        let value = parser.value()?;
        parser.finish()?;
        return A2aMessage::from_value(value).map(Some);
    }
    let mut texts = [""; 9];
    let mut places = [0u32; 9];
    let (mut source, mut target, mut meta, mut body) = (None, Optional::Absent, None, Value::Null);
    let mut others: Vec<Other<'a>> = Vec::new();
    let (mut seen, mut count) = (0u32, 0u32);
    parser.named_object(&MESSAGE, |p, at, name| {
        let place = count;
        count += 1;
        if let Some(at) = at.filter(|at| seen & (1 << at) == 0) {
            let mark = p.mark();
            let plain = match at {
                field::PROTOCOL => p.plain_text().filter(|t| t.as_bytes() == b"A2A").map(|t| texts[at] = t).is_some(),
                field::SOURCE_AGENT => plain_agent(p).map(|a| source = Some(a)).is_ok(),
                field::TARGET_AGENT if p.peek() == Some(b'n') => {
                    matches!(p.scalar(), Ok(Scalar::Null)).then(|| target = Optional::Null).is_some()
                }
                field::TARGET_AGENT => plain_agent(p).map(|a| target = Optional::Present(a)).is_ok(),
                field::PAYLOAD => {
                    body = payload(p)?;
                    true
                }
                field::METADATA => plain_metadata(p).map(|m| meta = Some(m)).is_ok(),
                _ => plain_non_empty(p).map(|t| texts[at] = t).is_ok(),
            };
            if plain {
                seen |= 1 << at;
                places[at] = place;
                return Ok(());
            }
            p.reset(mark);
        }
        if &*name == "payload" {
            let value = payload(p)?;
            others.push((place, name, value));
            return Ok(());
        }
        p.value_then(|value| others.push((place, name, value)))
    })?;
    parser.finish()?;
    const REQUIRED: u32 = (1 << MESSAGE.len()) - 1 - (1 << field::TARGET_AGENT);
    if others.is_empty() && seen & REQUIRED == REQUIRED && rfc3339_problem(texts[field::TIMESTAMP]).is_none() {
        if let (Some(source), Some(meta)) = (source, meta) {
            plain_read();
            PlainA2a { texts, source, target, meta }.write_event_json(input, payload_out, out);
            return Ok(None);
        }
    }
    let mut body = Some(body);
    let members: Vec<Other<'a>> = (0..MESSAGE.len())
        .filter(|at| seen & (1 << at) != 0)
        .map(|at| {
            let value = match at {
                field::SOURCE_AGENT => source.map_or(Value::Null, agent_value),
                field::TARGET_AGENT => match target {
                    Optional::Present(agent) => agent_value(agent),
                    _ => Value::Null,
                },
                field::PAYLOAD => body.take().unwrap_or(Value::Null),
                field::METADATA => meta.map_or(Value::Null, metadata_value),
                _ => text_value(texts[at]),
            };
            (places[at], Cow::Borrowed(MESSAGE[at].text()), value)
        })
        .collect();
    A2aMessage::from_value(Value::Object(in_order(members.into_iter(), others))).map(Some)
}

/// Appends a conversion's output: texts that are slices of the input between their quotes are
/// copied from it, quotes included, as fixed-size blocks.
struct Out<'o, 'i> {
    out: &'o mut Vec<u8>,
    input: &'i [u8],
}

impl Out<'_, '_> {
    #[inline(always)]
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Where `text`, a slice of the input, starts in it.
    #[inline(always)]
    fn start_of(&self, text: &str) -> usize {
        text.as_ptr() as usize - self.input.as_ptr() as usize
    }

    /// A plain text of the input as a string literal.
    #[inline(always)]
    fn literal(&mut self, text: &str) {
        let start = self.start_of(text);
        copy_run(self.out, self.input, start - 1, start + text.len() + 1);
    }

    /// A plain text of the input without its quotes.
    #[inline(always)]
    fn content(&mut self, text: &str) {
        let start = self.start_of(text);
        copy_run(self.out, self.input, start, start + text.len());
    }

    fn optional(&mut self, key: &[u8], value: Optional<&str>, null: &[u8]) {
        match value {
            Optional::Absent => {}
            Optional::Null => {
                self.raw(key);
                self.raw(null);
            }
            Optional::Present(text) => {
                self.raw(key);
                self.literal(text);
            }
        }
    }
}

impl<'a> PlainA2a<'a> {
    /// Appends the message's CloudEvent JSON, byte for byte what [`A2aMessage::write_event_json`]
    /// writes for it.
    pub(crate) fn write_event_json(&self, input: &[u8], payload: &[u8], out: &mut Vec<u8>) {
        fn agent(w: &mut Out<'_, '_>, agent: &PlainAgent<'_>, keys: [&[u8]; 3]) {
            w.raw(keys[0]);
            w.literal(agent.id);
            w.raw(keys[1]);
            w.literal(agent.kind);
            w.raw(keys[2]);
            w.raw(b"\"");
            // The items are plain texts without commas: inside quotes every byte is copied,
            // outside them only the commas between items.
            let mut quoted = false;
            for &b in agent.capabilities.as_bytes() {
                if b == b'"' {
                    quoted = !quoted;
                } else if quoted || b == b',' {
                    w.out.push(b);
                }
            }
            w.raw(b"\"");
        }
        let t = &self.texts;
        // Room for the usual event, block copies included, so that no write grows the buffer.
        out.reserve(input.len() + payload.len() + 512);
        let mut w = Out { out, input };
        w.raw(b"{\"specversion\":\"1.0\",\"id\":");
        w.literal(t[field::MESSAGE_ID]);
        w.raw(b",\"source\":\"/agents/");
        w.content(self.source.id);
        w.raw(b"\",\"type\":\"a2a.");
        w.content(t[field::MESSAGE_TYPE]);
        w.raw(b"\",\"datacontenttype\":\"application/json\",\"time\":");
        w.literal(t[field::TIMESTAMP]);
        w.raw(b",\"protocol\":\"A2A\",\"protocolversion\":");
        w.literal(t[field::VERSION]);
        w.raw(b",\"messagetype\":");
        w.literal(t[field::MESSAGE_TYPE]);
        agent(&mut w, &self.source, [b",\"sourceagent\":", b",\"sourceagenttype\":", b",\"agentcapabilities\":"]);
        match &self.target {
            Optional::Absent => {}
            Optional::Null => w.raw(b",\"targetagent\":\"\""),
            Optional::Present(target) => agent(
                &mut w,
                target,
                [b",\"targetagent\":", b",\"targetagenttype\":", b",\"targetagentcapabilities\":"],
            ),
        }
        let meta = &self.meta;
        w.raw(b",\"priority\":\"");
        w.raw(meta.priority.as_bytes());
        w.raw(b"\",\"ttl\":");
        w.raw(itoa::Buffer::new().format(meta.ttl).as_bytes());
        w.raw(b",\"correlationid\":");
        w.literal(meta.correlation_id);
        w.optional(b",\"collaborationid\":", meta.collaboration_id, b"\"\"");
        w.optional(b",\"traceparent\":", meta.traceparent, b"\"\"");
        w.raw(b",\"data\":");
        w.raw(payload);
        w.raw(b"}");
    }
}

/// The attributes the A2A mapping writes, in the order its writer writes them.
static ATTRIBUTES: [Name; attr::COUNT] = [
    Name::new("specversion"),
    Name::new("id"),
    Name::new("source"),
    Name::new("type"),
    Name::new("datacontenttype"),
    Name::new("time"),
    Name::new("protocol"),
    Name::new("protocolversion"),
    Name::new("messagetype"),
    Name::new("sourceagent"),
    Name::new("sourceagenttype"),
    Name::new("agentcapabilities"),
    Name::new("targetagent"),
    Name::new("targetagenttype"),
    Name::new("targetagentcapabilities"),
    Name::new("priority"),
    Name::new("ttl"),
    Name::new("correlationid"),
    Name::new("collaborationid"),
    Name::new("traceparent"),
    Name::new("data"),
];

mod attr {
    pub const SPECVERSION: usize = 0;
    pub const ID: usize = 1;
    pub const SOURCE: usize = 2;
    pub const TYPE: usize = 3;
    pub const DATACONTENTTYPE: usize = 4;
    pub const TIME: usize = 5;
    pub const PROTOCOL: usize = 6;
    pub const PROTOCOLVERSION: usize = 7;
    pub const MESSAGETYPE: usize = 8;
    pub const SOURCEAGENT: usize = 9;
    pub const SOURCEAGENTTYPE: usize = 10;
    pub const AGENTCAPABILITIES: usize = 11;
    pub const TARGETAGENT: usize = 12;
    pub const TARGETAGENTTYPE: usize = 13;
    pub const TARGETAGENTCAPABILITIES: usize = 14;
    pub const PRIORITY: usize = 15;
    pub const TTL: usize = 16;
    pub const CORRELATIONID: usize = 17;
    pub const COLLABORATIONID: usize = 18;
    pub const TRACEPARENT: usize = 19;
    pub const DATA: usize = 20;
    pub const COUNT: usize = 21;
}

/// Attributes the message cannot do without (the target agent's only with a target agent).
const REQUIRED: u32 = (1 << attr::DATA)
    | (1 << attr::SPECVERSION)
    | (1 << attr::ID)
    | (1 << attr::SOURCE)
    | (1 << attr::TYPE)
    | (1 << attr::TIME)
    | (1 << attr::TTL)
    | (1 << attr::AGENTCAPABILITIES)
    | (1 << attr::PROTOCOL)
    | (1 << attr::PROTOCOLVERSION)
    | (1 << attr::MESSAGETYPE)
    | (1 << attr::SOURCEAGENT)
    | (1 << attr::SOURCEAGENTTYPE)
    | (1 << attr::PRIORITY)
    | (1 << attr::CORRELATIONID);

/// Attributes that may be empty: A2A's `null` and an empty capability list.
const MAY_BE_EMPTY: u32 = (1 << attr::TARGETAGENT)
    | (1 << attr::COLLABORATIONID)
    | (1 << attr::TRACEPARENT)
    | (1 << attr::AGENTCAPABILITIES)
    | (1 << attr::TARGETAGENTCAPABILITIES);

/// A comma-separated capability list as plain: empty, or no empty item.
fn is_plain_list(list: &str) -> bool {
    list.is_empty() || (!list.starts_with(',') && !list.ends_with(',') && !list.contains(",,"))
}

/// The A2A message of an event whose attributes were all plain, as slices of its JSON.
pub(crate) struct PlainEvent<'a> {
    texts: [&'a str; attr::COUNT],
    seen: u32,
    priority: &'static str,
    ttl: i32,
}

/// Reads the A2A message of a CloudEvent in the JSON event format, `data` read by `data` (which
/// may stand in a value of the same JSON type for it, having written it into `scratch`). Accepts and
/// refuses what `A2aMessage::from_event(CloudEvent::from_json(..))` does, with the same errors. A
/// message whose attributes were all plain goes to `plain`, in place, with its data and `scratch`;
/// otherwise the result is the message the general rules read.
pub(crate) fn read_a2a_event_json<'a, T>(
    input: &'a [u8],
    scratch: &mut Vec<u8>,
    mut data: impl FnMut(&mut Parser<'a>, &mut Vec<u8>) -> PResult<Value<'a>>,
    plain: impl FnOnce(&PlainEvent<'a>, Value<'a>, &[u8]) -> T,
) -> Result<std::result::Result<T, A2aMessage<'a>>> {
    let mut parser = Parser::new(input)?;
    if parser.peek() != Some(b'{') {
        let value = parser.value()?;
        parser.finish()?;
        return Err(Error::validation("event", format!("must be a JSON object, not {}", value.kind())));
    }
    let mut texts = [""; attr::COUNT];
    let mut places = [0u32; attr::COUNT];
    let (mut ttl, mut body) = (0, Value::Null);
    let mut others: Vec<Other<'a>> = Vec::new();
    let (mut seen, mut count) = (0u32, 0u32);
    parser.named_object(&ATTRIBUTES, |p, at, name| {
        let place = count;
        count += 1;
        if let Some(at) = at.filter(|at| seen & (1 << at) == 0) {
            let plain = match at {
                attr::DATA => {
                    body = data(p, scratch)?;
                    true
                }
                attr::TTL => p.plain_natural().map(|t| ttl = t).is_some(),
                _ => match p.plain_text() {
                    Some(text) if !text.is_empty() || MAY_BE_EMPTY & (1 << at) != 0 => {
                        texts[at] = text;
                        true
                    }
                    Some(_) => {
                        others.push((place, name, text_value("")));
                        return Ok(());
                    }
                    None => false,
                },
            };
            if plain {
                seen |= 1 << at;
                places[at] = place;
                return Ok(());
            }
        }
        if &*name == "data" {
            let value = data(p, scratch)?;
            others.push((place, name, value));
            return Ok(());
        }
        p.value_then(|value| others.push((place, name, value)))
    })?;
    parser.finish()?;
    let has = |at: usize| seen & (1 << at) != 0;
    let target = texts[attr::TARGETAGENT];
    let priority = priority_level(texts[attr::PRIORITY]);
    let is_plain = others.is_empty()
        && seen & REQUIRED == REQUIRED
        && texts[attr::SPECVERSION].as_bytes() == b"1.0"
        && texts[attr::PROTOCOL].as_bytes() == b"A2A"
        && (!has(attr::DATACONTENTTYPE) || texts[attr::DATACONTENTTYPE] == "application/json")
        && is_plain_list(texts[attr::AGENTCAPABILITIES])
        && (!has(attr::TARGETAGENT)
            || target.is_empty()
            || (has(attr::TARGETAGENTTYPE)
                && has(attr::TARGETAGENTCAPABILITIES)
                && is_plain_list(texts[attr::TARGETAGENTCAPABILITIES])))
        && rfc3339_problem(texts[attr::TIME]).is_none();
    if let (true, Some(priority)) = (is_plain, priority) {
        plain_read();
        return Ok(Ok(plain(&PlainEvent { texts, seen, priority, ttl }, body, scratch)));
    }
    let mut body = Some(body);
    let plain: Vec<Other<'a>> = (0..attr::COUNT)
        .filter(|&at| has(at))
        .map(|at| {
            let value = match at {
                attr::DATA => body.take().unwrap_or(Value::Null),
                attr::TTL => Value::Int(i64::from(ttl)),
                _ => text_value(texts[at]),
            };
            (places[at], Cow::Borrowed(ATTRIBUTES[at].text()), value)
        })
        .collect();
    let mut reader = AttributeReader::<A2aExtensions>::default();
    for (name, value) in in_order(plain.into_iter(), others) {
        reader.add(name, value)?;
    }
    Ok(Err(A2aMessage::from_parts(reader.finish()?)?))
}

fn split_capabilities(list: &str) -> Vec<Cow<'_, str>> {
    match list {
        "" => Vec::new(),
        list => list.split(',').map(Cow::Borrowed).collect(),
    }
}

impl<'a> PlainEvent<'a> {
    fn has(&self, at: usize) -> bool {
        self.seen & (1 << at) != 0
    }

    fn optional(&self, at: usize) -> Optional<&'a str> {
        match self.texts[at] {
            _ if !self.has(at) => Optional::Absent,
            "" => Optional::Null,
            text => Optional::Present(text),
        }
    }

    /// The message, with `payload` as its payload.
    pub(crate) fn to_message(&self, payload: Value<'a>) -> A2aMessage<'a> {
        let t = &self.texts;
        let owned = |value: Optional<&'a str>| match value {
            Optional::Absent => Optional::Absent,
            Optional::Null => Optional::Null,
            Optional::Present(text) => Optional::Present(Cow::Borrowed(text)),
        };
        let target_agent = match self.optional(attr::TARGETAGENT) {
            Optional::Absent => Optional::Absent,
            Optional::Null => Optional::Null,
            Optional::Present(id) => Optional::Present(Agent {
                agent_id: Cow::Borrowed(id),
                agent_type: Cow::Borrowed(t[attr::TARGETAGENTTYPE]),
                capabilities: split_capabilities(t[attr::TARGETAGENTCAPABILITIES]),
            }),
        };
        A2aMessage {
            version: Cow::Borrowed(t[attr::PROTOCOLVERSION]),
            message_id: Cow::Borrowed(t[attr::ID]),
            timestamp: Cow::Borrowed(t[attr::TIME]),
            source_agent: Agent {
                agent_id: Cow::Borrowed(t[attr::SOURCEAGENT]),
                agent_type: Cow::Borrowed(t[attr::SOURCEAGENTTYPE]),
                capabilities: split_capabilities(t[attr::AGENTCAPABILITIES]),
            },
            target_agent,
            message_type: Cow::Borrowed(t[attr::MESSAGETYPE]),
            payload,
            priority: self.priority,
            ttl: self.ttl,
            correlation_id: Cow::Borrowed(t[attr::CORRELATIONID]),
            collaboration_id: owned(self.optional(attr::COLLABORATIONID)),
            traceparent: owned(self.optional(attr::TRACEPARENT)),
        }
    }

    /// Appends the message's A2A JSON, byte for byte what [`A2aMessage::write_json_with`] writes for it.
    pub(crate) fn write_a2a_json(&self, input: &[u8], payload: &[u8], out: &mut Vec<u8>) {
        fn agent(w: &mut Out<'_, '_>, id: &str, kind: &str, capabilities: &str) {
            w.raw(b"{\"agentId\":");
            w.literal(id);
            w.raw(b",\"agentType\":");
            w.literal(kind);
            w.raw(b",\"capabilities\":[");
            for (i, capability) in capabilities.split(',').filter(|c| !c.is_empty()).enumerate() {
                if i > 0 {
                    w.raw(b",");
                }
                w.raw(b"\"");
                w.content(capability);
                w.raw(b"\"");
            }
            w.raw(b"]}");
        }
        let t = &self.texts;
        out.reserve(input.len() + payload.len() + 512);
        let mut w = Out { out, input };
        w.raw(b"{\"protocol\":\"A2A\",\"version\":");
        w.literal(t[attr::PROTOCOLVERSION]);
        w.raw(b",\"messageId\":");
        w.literal(t[attr::ID]);
        w.raw(b",\"timestamp\":");
        w.literal(t[attr::TIME]);
        w.raw(b",\"sourceAgent\":");
        agent(&mut w, t[attr::SOURCEAGENT], t[attr::SOURCEAGENTTYPE], t[attr::AGENTCAPABILITIES]);
        match self.optional(attr::TARGETAGENT) {
            Optional::Absent => {}
            Optional::Null => w.raw(b",\"targetAgent\":null"),
            Optional::Present(id) => {
                w.raw(b",\"targetAgent\":");
                agent(&mut w, id, t[attr::TARGETAGENTTYPE], t[attr::TARGETAGENTCAPABILITIES]);
            }
        }
        w.raw(b",\"messageType\":");
        w.literal(t[attr::MESSAGETYPE]);
        w.raw(b",\"payload\":");
        w.raw(payload);
        w.raw(b",\"metadata\":{\"priority\":\"");
        w.raw(self.priority.as_bytes());
        w.raw(b"\",\"ttl\":");
        w.raw(itoa::Buffer::new().format(self.ttl).as_bytes());
        w.raw(b",\"correlationId\":");
        w.literal(t[attr::CORRELATIONID]);
        w.optional(b",\"collaborationId\":", self.optional(attr::COLLABORATIONID), b"null");
        w.optional(b",\"traceparent\":", self.optional(attr::TRACEPARENT), b"null");
        w.raw(b"}}");
    }
}
