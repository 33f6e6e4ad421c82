//! The two JSON readers of A2A messages: the A2A message's own JSON, and its CloudEvent in the
//! JSON event format. Each reads its input once, member by member. A member the mapping knows
//! whose value is plain (a valid CloudEvents text, a canonical `ttl`, an agent or metadata object
//! of such values) is taken as it stands, with nothing more to check; any other member is read
//! into a [`Value`] where it stands. When every member was plain, the reader hands back the plain
//! texts, which a converter writes out: a text with nothing to escape is copied from the input
//! as it stands, quotes included; one read through escapes was kept unescaped in a side buffer and
//! is written escaped as the writers escape it. Otherwise all members, in their order, go through
//! the general rules ([`A2aMessage::from_value`], or the event rules and [`A2aMessage::from_parts`]),
//! which name what is wrong. Either way the input is scanned once.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::{Error, Result};

use super::a2a::{A2aExtensions, A2aMessage, Agent, Optional, PRIORITIES};
use super::event::{is_valid_string, AttributeReader};
use super::json::{copy_run, Fail, Name, PResult, Parser, Scalar, StandIn};
use super::time::rfc3339_problem;
use super::value::{escape_into, write_str, Value};

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

/// Marks a [`Span`] of the side buffer.
const SIDE: u32 = 1 << 31;

/// A text the plain branch read: bytes `start..end` of the input, or of the side buffer when
/// `start` has [`SIDE`] set (a text read through escapes, kept there unescaped). The readers take
/// the plain branch only for inputs shorter than [`SIDE`] bytes, so every span fits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn input(range: Range<usize>) -> Self {
        Span { start: range.start as u32, end: range.end as u32 }
    }

    fn side(range: Range<usize>) -> Self {
        Span { start: range.start as u32 | SIDE, end: range.end as u32 }
    }

    #[inline(always)]
    fn in_side(self) -> bool {
        self.start & SIDE != 0
    }

    #[inline(always)]
    fn range(self) -> Range<usize> {
        (self.start & !SIDE) as usize..self.end as usize
    }

    #[inline(always)]
    fn is_empty(self) -> bool {
        self.start & !SIDE == self.end
    }
}

/// Where spans point: the input and the side buffer.
#[derive(Clone, Copy)]
struct Texts<'a, 's> {
    input: &'a str,
    side: &'s str,
}

impl<'a, 's> Texts<'a, 's> {
    #[inline(always)]
    fn str(&self, span: Span) -> &'s str
    where
        'a: 's,
    {
        match span.in_side() {
            false => &self.input[span.range()],
            true => &self.side[span.range()],
        }
    }

    fn cow(&self, span: Span) -> Cow<'a, str> {
        match span.in_side() {
            false => Cow::Borrowed(&self.input[span.range()]),
            true => Cow::Owned(self.side[span.range()].to_owned()),
        }
    }

    fn value(&self, span: Span) -> Value<'a> {
        Value::Str(self.cow(span))
    }
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

/// A string literal whose text is a valid CloudEvents string: printable ASCII is taken in one
/// scan; other text is read by the one string reader and checked, unescaped into `side` when it
/// has escapes. None for any other value, or malformed JSON, which the caller reads again as a
/// value to report.
#[inline(always)]
fn text(p: &mut Parser<'_>, side: &mut String) -> Option<Span> {
    match p.plain_text() {
        Some(range) => Some(Span::input(range)),
        None if p.peek() == Some(b'"') => other_text(p, side),
        None => None,
    }
}

#[cold]
#[inline(never)]
fn other_text(p: &mut Parser<'_>, side: &mut String) -> Option<Span> {
    let (start, from) = (p.offset() + 1, side.len());
    let span = match p.string_or_unescaped(side) {
        Ok(Some(text)) => is_valid_string(text).then(|| Span::input(start..start + text.len())),
        Ok(None) => is_valid_string(&side[from..]).then(|| Span::side(from..side.len())),
        Err(_) => None,
    };
    if span.is_none() {
        side.truncate(from);
    }
    span
}

/// The text of `span` while `p` reads.
#[inline(always)]
fn span_text<'s>(p: &Parser<'s>, side: &'s str, span: Span) -> &'s str {
    match span.in_side() {
        false => p.text_between(span.range().start, span.range().end),
        true => &side[span.range()],
    }
}

/// A non-empty [`text`].
#[inline(always)]
fn non_empty(p: &mut Parser<'_>, side: &mut String) -> PResult<Span> {
    text(p, side).filter(|t| !t.is_empty()).ok_or(GIVE_UP)
}

/// `null`, or a non-empty [`text`].
fn optional(p: &mut Parser<'_>, side: &mut String) -> PResult<Optional<Span>> {
    if p.peek() == Some(b'n') {
        return match p.scalar()? {
            Scalar::Null => Ok(Optional::Null),
            _ => Err(GIVE_UP),
        };
    }
    non_empty(p, side).map(Optional::Present)
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

/// How many capabilities of an agent the plain branch keeps as spans of the input.
const ITEMS: usize = 4;

/// The capabilities of an agent read as plain: up to [`ITEMS`] printable ASCII texts as spans of
/// the input; any other list unescaped into the side buffer, comma-separated (the capability list
/// of the event).
#[derive(Clone, Copy)]
enum Capabilities {
    Items { items: [Span; ITEMS], len: usize },
    Joined(Span),
}

/// A capability read as plain: a non-empty text without commas.
fn is_capability(text: &[u8]) -> bool {
    !text.is_empty() && !text.contains(&b',')
}

fn plain_capabilities(p: &mut Parser<'_>, side: &mut String) -> PResult<Capabilities> {
    if p.peek() != Some(b'[') {
        return Err(GIVE_UP);
    }
    let (mut items, mut len) = ([Span::default(); ITEMS], 0);
    let mut joined: Option<usize> = None;
    p.array(|p| {
        match joined {
            Some(_) => side.push(','),
            None => {
                let plain = p.plain_text();
                if let Some(item) = &plain {
                    if !is_capability(&p.bytes()[item.clone()]) {
                        return Err(GIVE_UP);
                    }
                    if len < ITEMS {
                        items[len] = Span::input(item.clone());
                        len += 1;
                        return Ok(());
                    }
                }
                // One item too many, or one that is not printable ASCII: the list goes to the side buffer.
                joined = Some(side.len());
                for item in &items[..len] {
                    side.push_str(p.text_between(item.range().start, item.range().end));
                    side.push(',');
                }
                if let Some(item) = plain {
                    side.push_str(p.text_between(item.start, item.end));
                    return Ok(());
                }
            }
        }
        let at = side.len();
        let span = text(p, side).ok_or(GIVE_UP)?;
        if !span.in_side() {
            side.push_str(p.text_between(span.range().start, span.range().end));
        }
        match is_capability(&side.as_bytes()[at..]) {
            true => Ok(()),
            false => Err(GIVE_UP),
        }
    })?;
    Ok(match joined {
        None => Capabilities::Items { items, len },
        Some(from) => Capabilities::Joined(Span::side(from..side.len())),
    })
}

fn capabilities_value<'a>(texts: &Texts<'a, '_>, capabilities: Capabilities) -> Value<'a> {
    Value::Array(match capabilities {
        Capabilities::Items { items, len } => items[..len].iter().map(|&item| texts.value(item)).collect(),
        Capabilities::Joined(span) => {
            texts.side[span.range()].split(',').map(|c| Value::Str(Cow::Owned(c.to_owned()))).collect()
        }
    })
}

/// An agent whose members are all plain.
#[derive(Clone, Copy)]
struct PlainAgent {
    id: Span,
    kind: Span,
    capabilities: Capabilities,
}

impl Default for PlainAgent {
    fn default() -> Self {
        let capabilities = Capabilities::Items { items: [Span::default(); ITEMS], len: 0 };
        PlainAgent { id: Span::default(), kind: Span::default(), capabilities }
    }
}

/// Reads an agent object of plain values, each member once, into `agent`: the rules hold for it
/// as it stands. (Written in place: a result this size returned through memory stalls its reader.)
fn plain_agent(p: &mut Parser<'_>, side: &mut String, agent: &mut PlainAgent) -> bool {
    let mut seen = 0u32;
    let read = p.named_object(&AGENT, |p, key| {
        let at = key.ok().filter(|at| seen & (1 << at) == 0).ok_or(GIVE_UP)?;
        seen |= 1 << at;
        match at {
            0 => agent.id = non_empty(p, side)?,
            1 => agent.kind = non_empty(p, side)?,
            _ => agent.capabilities = plain_capabilities(p, side)?,
        }
        Ok(())
    });
    read.is_ok() && seen == 0b111
}

fn agent_value<'a>(texts: &Texts<'a, '_>, agent: PlainAgent) -> Value<'a> {
    Value::Object(vec![
        (Cow::Borrowed("agentId"), texts.value(agent.id)),
        (Cow::Borrowed("agentType"), texts.value(agent.kind)),
        (Cow::Borrowed("capabilities"), capabilities_value(texts, agent.capabilities)),
    ])
}

/// The metadata of a message, when read as plain.
#[derive(Clone, Copy, Default)]
struct Metadata {
    priority: &'static str,
    ttl: i32,
    /// The digits of `ttl` in the input, which are what the writers write for it.
    ttl_digits: Span,
    correlation_id: Span,
    collaboration_id: Optional<Span>,
    traceparent: Optional<Span>,
}

/// Reads metadata of plain values, each member once, into `meta`.
fn plain_metadata(p: &mut Parser<'_>, side: &mut String, meta: &mut Metadata) -> bool {
    let mut seen = 0u32;
    let read = p.named_object(&METADATA, |p, key| {
        let at = key.ok().filter(|at| seen & (1 << at) == 0).ok_or(GIVE_UP)?;
        seen |= 1 << at;
        match at {
            0 => {
                let span = text(p, side).ok_or(GIVE_UP)?;
                meta.priority = priority_level(span_text(p, side, span)).ok_or(GIVE_UP)?;
            }
            1 => {
                let (value, start) = p.plain_natural().ok_or(GIVE_UP)?;
                (meta.ttl, meta.ttl_digits) = (value, Span::input(start..p.offset()));
            }
            2 => meta.correlation_id = non_empty(p, side)?,
            3 => meta.collaboration_id = optional(p, side)?,
            _ => meta.traceparent = optional(p, side)?,
        }
        Ok(())
    });
    read.is_ok() && seen & 0b111 == 0b111
}

fn metadata_value<'a>(texts: &Texts<'a, '_>, meta: Metadata) -> Value<'a> {
    let mut members = vec![
        (Cow::Borrowed("priority"), Value::Str(Cow::Borrowed(meta.priority))),
        (Cow::Borrowed("ttl"), Value::Int(i64::from(meta.ttl))),
        (Cow::Borrowed("correlationId"), texts.value(meta.correlation_id)),
    ];
    for (name, value) in [("collaborationId", meta.collaboration_id), ("traceparent", meta.traceparent)] {
        match value {
            Optional::Absent => {}
            Optional::Null => members.push((Cow::Borrowed(name), Value::Null)),
            Optional::Present(text) => members.push((Cow::Borrowed(name), texts.value(text))),
        }
    }
    Value::Object(members)
}

/// An A2A message whose members were all plain.
struct PlainA2a {
    texts: [Span; 9],
    source: PlainAgent,
    target: Optional<PlainAgent>,
    meta: Metadata,
}

/// Reads an A2A message from its JSON, its payload rewritten into `payload` as compact JSON (the
/// message holds a stand-in of the same JSON type) and texts with escapes unescaped into `side`.
/// A message whose members were all plain is written to `out` as its CloudEvent JSON at once;
/// otherwise the result is the message the general rules read, for the caller to write.
pub(crate) fn read_a2a_json<'a>(
    input: &'a [u8],
    payload: &mut Vec<u8>,
    side: &mut String,
    out: &mut Vec<u8>,
) -> Result<Option<A2aMessage<'a>>> {
    let mut parser = Parser::new(input)?;
    if parser.peek() != Some(b'{') || input.len() >= SIDE as usize {
        let value = parser.value()?;
        parser.finish()?;
        return A2aMessage::from_value(value).map(Some);
    }
    let mut texts = [Span::default(); 9];
    let mut places = [0u32; 9];
    let (mut source, mut target, mut meta, mut body) =
        (PlainAgent::default(), PlainAgent::default(), Metadata::default(), StandIn::Null);
    let mut target_is_null = false;
    let mut others: Vec<Other<'a>> = Vec::new();
    let (mut seen, mut count) = (0u32, 0u32);
    parser.named_object(&MESSAGE, |p, key| {
        let place = count;
        count += 1;
        if let Some(at) = key.as_ref().ok().copied().filter(|at| seen & (1 << at) == 0) {
            let mark = p.mark();
            let plain = match at {
                field::PROTOCOL => match text(p, side) {
                    Some(span) if span_text(p, side, span) == "A2A" => {
                        texts[at] = span;
                        true
                    }
                    _ => false,
                },
                field::SOURCE_AGENT => plain_agent(p, side, &mut source),
                field::TARGET_AGENT if p.peek() == Some(b'n') => {
                    target_is_null = matches!(p.scalar(), Ok(Scalar::Null));
                    target_is_null
                }
                field::TARGET_AGENT => plain_agent(p, side, &mut target),
                field::PAYLOAD => {
                    body = p.transcode_standing_in(payload)?;
                    true
                }
                field::METADATA => plain_metadata(p, side, &mut meta),
                _ => non_empty(p, side).map(|t| texts[at] = t).is_ok(),
            };
            if plain {
                seen |= 1 << at;
                places[at] = place;
                return Ok(());
            }
            // What a plain read left in the side buffer stays there unused.
            p.reset(mark);
        }
        let name = key.map_or_else(|name| name, |at| Cow::Borrowed(MESSAGE[at].text()));
        if name == "payload" {
            let value = p.transcode_standing_in(payload)?.into();
            others.push((place, name, value));
            return Ok(());
        }
        p.value_then(|value| others.push((place, name, value)))
    })?;
    parser.finish()?;
    let spans = Texts { input: parser.input(), side };
    const REQUIRED: u32 = (1 << MESSAGE.len()) - 1 - (1 << field::TARGET_AGENT);
    let target = match () {
        _ if seen & (1 << field::TARGET_AGENT) == 0 => Optional::Absent,
        _ if target_is_null => Optional::Null,
        _ => Optional::Present(target),
    };
    if others.is_empty() && seen & REQUIRED == REQUIRED && rfc3339_problem(spans.str(texts[field::TIMESTAMP])).is_none()
    {
        plain_read();
        PlainA2a { texts, source, target, meta }.write_event_json(input, side, payload, out);
        return Ok(None);
    }
    let members: Vec<Other<'a>> = (0..MESSAGE.len())
        .filter(|at| seen & (1 << at) != 0)
        .map(|at| {
            let value = match at {
                field::SOURCE_AGENT => agent_value(&spans, source),
                field::TARGET_AGENT => match target {
                    Optional::Present(agent) => agent_value(&spans, agent),
                    _ => Value::Null,
                },
                field::PAYLOAD => body.into(),
                field::METADATA => metadata_value(&spans, meta),
                _ => spans.value(texts[at]),
            };
            (places[at], Cow::Borrowed(MESSAGE[at].text()), value)
        })
        .collect();
    A2aMessage::from_value(Value::Object(in_order(members.into_iter(), others))).map(Some)
}

/// Appends a conversion's output: a text of the input has nothing to escape and is copied from
/// it, quotes included, as a fixed-size block; a text of the side buffer is written escaped as the
/// writers escape it.
struct Out<'o, 'i> {
    out: &'o mut Vec<u8>,
    input: &'i [u8],
    side: &'i str,
}

impl Out<'_, '_> {
    #[inline(always)]
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// A text as a string literal.
    #[inline(always)]
    fn literal(&mut self, span: Span) {
        match span.in_side() {
            false => copy_run(self.out, self.input, span.start as usize - 1, span.end as usize + 1),
            true => write_str(self.out, &self.side[span.range()]),
        }
    }

    /// A text as the content of a string literal, without its quotes.
    #[inline(always)]
    fn content(&mut self, span: Span) {
        match span.in_side() {
            false => copy_run(self.out, self.input, span.start as usize, span.end as usize),
            true => escape_into(self.out, &self.side[span.range()]),
        }
    }

    fn optional(&mut self, key: &[u8], value: Optional<Span>, null: &[u8]) {
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

    /// Capabilities as the content of the event's comma-separated list.
    fn capabilities(&mut self, capabilities: Capabilities) {
        match capabilities {
            Capabilities::Items { items, len } => {
                for (i, &item) in items[..len].iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.content(item);
                }
            }
            Capabilities::Joined(joined) => self.content(joined),
        }
    }
}

impl PlainA2a {
    /// Appends the message's CloudEvent JSON, byte for byte what [`A2aMessage::write_event_json`]
    /// writes for it.
    fn write_event_json(&self, input: &[u8], side: &str, payload: &[u8], out: &mut Vec<u8>) {
        fn agent(w: &mut Out<'_, '_>, agent: &PlainAgent, keys: [&[u8]; 3]) {
            w.raw(keys[0]);
            w.literal(agent.id);
            w.raw(keys[1]);
            w.literal(agent.kind);
            w.raw(keys[2]);
            w.raw(b"\"");
            w.capabilities(agent.capabilities);
            w.raw(b"\"");
        }
        let t = &self.texts;
        // Room for the usual event, block copies included, so that no write grows the buffer.
        out.reserve(input.len() + payload.len() + 512);
        let mut w = Out { out, input, side };
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
        w.content(meta.ttl_digits);
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
#[inline(always)]
fn is_plain_list(list: &str) -> bool {
    let list = list.as_bytes();
    list.first() != Some(&b',') && list.last() != Some(&b',') && !list.windows(2).any(|pair| pair == b",,")
}

/// The A2A message of an event whose attributes were all plain.
pub(crate) struct PlainEvent<'a, 's> {
    texts: [Span; attr::COUNT],
    spans: Texts<'a, 's>,
    seen: u32,
    priority: &'static str,
    ttl: i32,
}

/// Reads the A2A message of a CloudEvent in the JSON event format, `data` read by `data` (which
/// may write it into `scratch` and give a stand-in of the same JSON type) and texts with escapes
/// unescaped into `side`. Accepts and refuses what `A2aMessage::from_event(CloudEvent::from_json(..))`
/// does, with the same errors. A message whose attributes were all plain goes to `plain` with its
/// data and `scratch`; otherwise the result is the message the general rules read.
pub(crate) fn read_a2a_event_json<'a, D: Into<Value<'a>>, T>(
    input: &'a [u8],
    scratch: &mut Vec<u8>,
    side: &mut String,
    mut data: impl FnMut(&mut Parser<'a>, &mut Vec<u8>) -> PResult<D>,
    plain: impl FnOnce(&PlainEvent<'a, '_>, D, &[u8]) -> T,
) -> Result<std::result::Result<T, A2aMessage<'a>>> {
    let mut parser = Parser::new(input)?;
    if parser.peek() != Some(b'{') {
        let value = parser.value()?;
        parser.finish()?;
        return Err(Error::validation("event", format!("must be a JSON object, not {}", value.kind())));
    }
    let plain_fits = input.len() < SIDE as usize;
    let mut texts = [Span::default(); attr::COUNT];
    let mut places = [0u32; attr::COUNT];
    let (mut ttl, mut body) = (0, None);
    let mut others: Vec<Other<'a>> = Vec::new();
    let (mut seen, mut count) = (0u32, 0u32);
    parser.named_object(&ATTRIBUTES, |p, key| {
        let place = count;
        count += 1;
        if let Some(at) = key.as_ref().ok().copied().filter(|at| plain_fits && seen & (1 << at) == 0) {
            let mark = p.mark();
            let plain = match at {
                attr::DATA => {
                    body = Some(data(p, scratch)?);
                    true
                }
                attr::TTL => p
                    .plain_natural()
                    .map(|(value, start)| {
                        ttl = value;
                        texts[at] = Span::input(start..p.offset());
                    })
                    .is_some(),
                _ => match text(p, side) {
                    Some(span) if !span.is_empty() || MAY_BE_EMPTY & (1 << at) != 0 => {
                        texts[at] = span;
                        true
                    }
                    Some(_) => {
                        others.push((place, Cow::Borrowed(ATTRIBUTES[at].text()), Value::Str(Cow::Borrowed(""))));
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
            // What a plain read left in the side buffer stays there unused.
            p.reset(mark);
        }
        let name = key.map_or_else(|name| name, |at| Cow::Borrowed(ATTRIBUTES[at].text()));
        if name == "data" {
            let value = data(p, scratch)?.into();
            others.push((place, name, value));
            return Ok(());
        }
        p.value_then(|value| others.push((place, name, value)))
    })?;
    parser.finish()?;
    let spans = Texts { input: parser.input(), side };
    let has = |at: usize| seen & (1 << at) != 0;
    let text = |at: usize| spans.str(texts[at]);
    let is_plain = others.is_empty()
        && seen & REQUIRED == REQUIRED
        && text(attr::SPECVERSION) == "1.0"
        && text(attr::PROTOCOL) == "A2A"
        && (!has(attr::DATACONTENTTYPE) || text(attr::DATACONTENTTYPE) == "application/json")
        && is_plain_list(text(attr::AGENTCAPABILITIES))
        && (!has(attr::TARGETAGENT)
            || texts[attr::TARGETAGENT].is_empty()
            || (has(attr::TARGETAGENTTYPE)
                && has(attr::TARGETAGENTCAPABILITIES)
                && is_plain_list(text(attr::TARGETAGENTCAPABILITIES))))
        && rfc3339_problem(text(attr::TIME)).is_none();
    if let (true, Some(priority)) = (is_plain, priority_level(text(attr::PRIORITY))) {
        if let Some(body) = body.take() {
            plain_read();
            return Ok(Ok(plain(&PlainEvent { texts, spans, seen, priority, ttl }, body, scratch)));
        }
    }
    let plain: Vec<Other<'a>> = (0..attr::COUNT)
        .filter(|&at| has(at))
        .map(|at| {
            let value = match at {
                attr::DATA => body.take().map_or(Value::Null, Into::into),
                attr::TTL => Value::Int(i64::from(ttl)),
                _ => spans.value(texts[at]),
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

impl<'a> PlainEvent<'a, '_> {
    fn has(&self, at: usize) -> bool {
        self.seen & (1 << at) != 0
    }

    fn optional(&self, at: usize) -> Optional<Span> {
        match self.texts[at] {
            _ if !self.has(at) => Optional::Absent,
            span if span.is_empty() => Optional::Null,
            span => Optional::Present(span),
        }
    }

    fn cow(&self, at: usize) -> Cow<'a, str> {
        self.spans.cow(self.texts[at])
    }

    fn optional_cow(&self, at: usize) -> Optional<Cow<'a, str>> {
        match self.optional(at) {
            Optional::Absent => Optional::Absent,
            Optional::Null => Optional::Null,
            Optional::Present(span) => Optional::Present(self.spans.cow(span)),
        }
    }

    /// The items of a comma-separated capability list, none for an empty one.
    fn capabilities(&self, at: usize) -> Vec<Cow<'a, str>> {
        match self.cow(at) {
            list if list.is_empty() => Vec::new(),
            Cow::Borrowed(list) => list.split(',').map(Cow::Borrowed).collect(),
            Cow::Owned(list) => list.split(',').map(|c| Cow::Owned(c.to_owned())).collect(),
        }
    }

    /// The message, with `payload` as its payload.
    pub(crate) fn to_message(&self, payload: Value<'a>) -> A2aMessage<'a> {
        let target_agent = match self.optional_cow(attr::TARGETAGENT) {
            Optional::Absent => Optional::Absent,
            Optional::Null => Optional::Null,
            Optional::Present(agent_id) => Optional::Present(Agent {
                agent_id,
                agent_type: self.cow(attr::TARGETAGENTTYPE),
                capabilities: self.capabilities(attr::TARGETAGENTCAPABILITIES),
            }),
        };
        A2aMessage {
            version: self.cow(attr::PROTOCOLVERSION),
            message_id: self.cow(attr::ID),
            timestamp: self.cow(attr::TIME),
            source_agent: Agent {
                agent_id: self.cow(attr::SOURCEAGENT),
                agent_type: self.cow(attr::SOURCEAGENTTYPE),
                capabilities: self.capabilities(attr::AGENTCAPABILITIES),
            },
            target_agent,
            message_type: self.cow(attr::MESSAGETYPE),
            payload,
            priority: self.priority,
            ttl: self.ttl,
            correlation_id: self.cow(attr::CORRELATIONID),
            collaboration_id: self.optional_cow(attr::COLLABORATIONID),
            traceparent: self.optional_cow(attr::TRACEPARENT),
        }
    }

    /// Appends the message's A2A JSON, byte for byte what [`A2aMessage::write_json_with`] writes for it.
    pub(crate) fn write_a2a_json(&self, payload: &[u8], out: &mut Vec<u8>) {
        fn agent(w: &mut Out<'_, '_>, id: Span, kind: Span, capabilities: Span) {
            w.raw(b"{\"agentId\":");
            w.literal(id);
            w.raw(b",\"agentType\":");
            w.literal(kind);
            w.raw(b",\"capabilities\":[");
            match capabilities.in_side() {
                _ if capabilities.is_empty() => {}
                false => {
                    // Each item of a list of the input is copied with the bytes around it in place of quotes.
                    let Range { start, end } = capabilities.range();
                    let mut at = start;
                    for item in w.input[start..end].split(|&b| b == b',') {
                        if at > start {
                            w.raw(b",");
                        }
                        w.raw(b"\"");
                        copy_run(w.out, w.input, at, at + item.len());
                        w.raw(b"\"");
                        at += item.len() + 1;
                    }
                }
                true => {
                    for (i, item) in w.side[capabilities.range()].split(',').enumerate() {
                        if i > 0 {
                            w.raw(b",");
                        }
                        write_str(w.out, item);
                    }
                }
            }
            w.raw(b"]}");
        }
        let t = &self.texts;
        let input = self.spans.input.as_bytes();
        out.reserve(input.len() + payload.len() + 512);
        let mut w = Out { out, input, side: self.spans.side };
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
        w.content(t[attr::TTL]);
        w.raw(b",\"correlationId\":");
        w.literal(t[attr::CORRELATIONID]);
        w.optional(b",\"collaborationId\":", self.optional(attr::COLLABORATIONID), b"null");
        w.optional(b",\"traceparent\":", self.optional(attr::TRACEPARENT), b"null");
        w.raw(b"}}");
    }
}
