//! The gateway conversions for valid messages with only the fields the mapping knows, with no
//! message built in between. Texts are kept as spans of the input and copied into the output as
//! they stand; a text with escapes or characters beyond printable ASCII (rare) is unescaped,
//! checked and written escaped as the writers escape it into a side buffer, and spans address
//! that buffer after the input. Anything else (a missing, repeated or unknown field, a value the
//! mapping refuses, malformed JSON) is left to the readers of [`super::a2a`]: an A2A message to the
//! general reader, an event to the direct reader and then the general one. Those accept the same
//! messages and more; a message converted here is converted byte for byte as they convert it.

use super::a2a::PRIORITIES;
use super::event::is_valid_string;
use super::json::{copy_run, printable_run_end, Parser};
use super::time::rfc3339_problem;
use super::value::write_str;

/// A run of the input or, from the input's length on, of the side buffer of re-escaped texts: the
/// content of a string literal (its quotes are just outside) or a number.
#[derive(Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// A member name with its quotes, recognised in place with two masked 16-byte compares.
struct Name {
    literal: [u8; 32],
    len: usize,
    pattern: [u128; 2],
    mask: [u128; 2],
}

/// How many names from the one after the previous member's are tried in place: writers put
/// members in one order, some of them optional; a name out of that order is read and looked up.
const LOOKAHEAD: usize = 4;

impl Name {
    const fn new(name: &str) -> Self {
        let name = name.as_bytes();
        assert!(name.len() <= 30);
        let mut literal = [0u8; 32];
        let mut mask = [0u8; 32];
        literal[0] = b'"';
        mask[0] = 0xFF;
        let mut i = 0;
        while i < name.len() {
            literal[i + 1] = name[i];
            mask[i + 1] = 0xFF;
            i += 1;
        }
        literal[name.len() + 1] = b'"';
        mask[name.len() + 1] = 0xFF;
        Name {
            literal,
            len: name.len() + 2,
            pattern: [Self::word(&literal, 0), Self::word(&literal, 16)],
            mask: [Self::word(&mask, 0), Self::word(&mask, 16)],
        }
    }

    const fn word(bytes: &[u8; 32], from: usize) -> u128 {
        let mut word = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            word[i] = bytes[from + i];
            i += 1;
        }
        u128::from_le_bytes(word)
    }

    /// The name without its quotes.
    fn text(&self) -> &[u8] {
        &self.literal[1..self.len - 1]
    }

    /// Whether the input has this name's string literal at `pos`.
    #[inline(always)]
    fn is_at(&self, bytes: &[u8], pos: usize) -> bool {
        match bytes.get(pos..pos + 32) {
            Some(block) => {
                let word = |from: usize| u128::from_le_bytes(block[from..from + 16].try_into().expect("sixteen bytes"));
                ((word(0) ^ self.pattern[0]) & self.mask[0]) | ((word(16) ^ self.pattern[1]) & self.mask[1]) == 0
            }
            None => bytes.get(pos..pos + self.len) == Some(&self.literal[..self.len]),
        }
    }
}

/// Capabilities of one agent, at most [`MAX_CAPABILITIES`] (more are left to the general reader).
const MAX_CAPABILITIES: usize = 16;

#[derive(Clone, Copy, Default)]
struct Capabilities {
    items: [Span; MAX_CAPABILITIES],
    len: usize,
}

#[derive(Clone, Copy, Default)]
struct AgentSpans {
    id: Span,
    kind: Span,
    capabilities: Capabilities,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    /// Texts that are not plain in the input, re-escaped, with their quotes.
    escaped: Vec<u8>,
}

impl<'a> Cursor<'a> {
    /// Checks the input as the general reader does before reading anything (UTF-8), and that
    /// spans can address it and its side buffer.
    fn new(input: &'a [u8]) -> Option<Self> {
        if input.len() > (u32::MAX / 4) as usize {
            return None;
        }
        let text = super::json::utf8(input).ok()?;
        Some(Cursor { bytes: input, text, pos: 0, escaped: Vec::new() })
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        // Most tokens follow their separator directly or after one space.
        match self.bytes.get(self.pos) {
            Some(&b) if b > b' ' => return,
            Some(b' ') if self.bytes.get(self.pos + 1).is_some_and(|&b| b > b' ') => {
                self.pos += 1;
                return;
            }
            _ => {}
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    fn eat(&mut self, byte: u8) -> Option<()> {
        if self.peek() != Some(byte) {
            return None;
        }
        self.pos += 1;
        Some(())
    }

    /// A string literal that is a valid CloudEvents string.
    #[inline(always)]
    fn text(&mut self) -> Option<Span> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.pos + 1;
        let end = printable_run_end(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return self.escaped_text();
        }
        self.pos = end + 1;
        // The input is short enough for `u32` (checked on entry).
        Some(Span { start: start as u32, end: end as u32 })
    }

    /// [`Cursor::text`] for a literal with escapes or characters beyond printable ASCII: read as
    /// the other readers read it, checked as they check it, and written escaped as the writers
    /// write it into the side buffer.
    #[cold]
    #[inline(never)]
    fn escaped_text(&mut self) -> Option<Span> {
        let mut parser = Parser::resume(self.text, self.pos, 0);
        let text = parser.string().ok()?;
        if !is_valid_string(&text) {
            return None;
        }
        self.pos = parser.offset();
        let start = self.bytes.len() + self.escaped.len() + 1;
        write_str(&mut self.escaped, &text);
        let end = self.bytes.len() + self.escaped.len() - 1;
        Some(Span { start: u32::try_from(start).ok()?, end: u32::try_from(end).ok()? })
    }

    /// A non-empty [`Cursor::text`].
    #[inline(always)]
    fn non_empty_text(&mut self) -> Option<Span> {
        self.text().filter(|s| !s.is_empty())
    }

    /// `null`, whatever follows it (the next separator is checked by the caller).
    #[inline(always)]
    fn null(&mut self) -> bool {
        if self.peek() == Some(b'n') && self.bytes.get(self.pos..self.pos + 4) == Some(b"null") {
            self.pos += 4;
            return true;
        }
        false
    }

    /// An integer from 0 to `i32::MAX` in canonical form (no sign, no leading zero, no fraction
    /// or exponent), which is written back as it stands.
    #[inline(always)]
    fn ttl(&mut self) -> Option<Span> {
        self.skip_ws();
        let start = self.pos;
        let mut value = 0u64;
        while let Some(&d) = self.bytes.get(self.pos).filter(|d| d.is_ascii_digit()) {
            value = value * 10 + u64::from(d - b'0');
            self.pos += 1;
            if self.pos - start > 10 {
                return None;
            }
        }
        let len = self.pos - start;
        if len == 0 || (len > 1 && self.bytes[start] == b'0') || value > i32::MAX as u64 {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(self.pos) {
            return None;
        }
        Some(Span { start: start as u32, end: self.pos as u32 })
    }

    /// Reads an object's members, calling `member` with the index of each name in `names` (any
    /// other name gives up); `member` reads the value and checks that it comes only once.
    #[inline(always)]
    fn object(&mut self, names: &[Name], mut member: impl FnMut(&mut Self, usize) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        let mut next = 0;
        loop {
            self.skip_ws();
            let predicted = (next..names.len().min(next + LOOKAHEAD)).find(|&at| names[at].is_at(self.bytes, self.pos));
            let at = match predicted {
                Some(at) => {
                    self.pos += names[at].len;
                    at
                }
                None => {
                    let name = self.text()?;
                    names.iter().position(|n| n.text() == self.slice(name))?
                }
            };
            next = at + 1;
            self.eat(b':')?;
            self.skip_ws();
            member(self, at)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Any JSON value, compact, into `out`, read as the other readers read the payload (inside
    /// the top-level object, at depth 1).
    fn transcode(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut parser = Parser::resume(self.text, self.pos, 1);
        parser.transcode(out).ok()?;
        self.pos = parser.offset();
        Some(())
    }

    /// End of the input after optional whitespace.
    fn finish(&mut self) -> Option<()> {
        self.skip_ws();
        (self.pos == self.bytes.len()).then_some(())
    }

    fn slice(&self, span: Span) -> &[u8] {
        slice(self.bytes, &self.escaped, span)
    }

    /// The span's text (the re-escaped form of an escaped one, which is the same for every text
    /// a caller compares or checks: they have nothing to escape).
    fn str(&self, span: Span) -> Option<&str> {
        match span.start as usize >= self.bytes.len() {
            false => Some(&self.text[span.start as usize..span.end as usize]),
            true => std::str::from_utf8(self.slice(span)).ok(),
        }
    }
}

/// The bytes of `span`, in `input` or after it in `escaped`.
#[inline(always)]
fn slice<'s>(input: &'s [u8], escaped: &'s [u8], span: Span) -> &'s [u8] {
    let (start, end) = (span.start as usize, span.end as usize);
    match start.checked_sub(input.len()) {
        None => &input[start..end],
        Some(at) => &escaped[at..end - input.len()],
    }
}

/// Sets bit `bit` of `seen`; `None` if it was set (a repeated field).
#[inline(always)]
fn once(seen: &mut u32, bit: usize) -> Option<()> {
    if *seen & (1 << bit) != 0 {
        return None;
    }
    *seen |= 1 << bit;
    Some(())
}

/// The members of an agent, in order; the readers match on their indexes.
const AGENT: [Name; 3] = [Name::new("agentId"), Name::new("agentType"), Name::new("capabilities")];

fn agent(c: &mut Cursor<'_>) -> Option<AgentSpans> {
    let mut agent = AgentSpans::default();
    let mut seen = 0u32;
    c.object(&AGENT, |c, at| {
        once(&mut seen, at)?;
        match at {
            0 => agent.id = c.non_empty_text()?,
            1 => agent.kind = c.non_empty_text()?,
            _ => {
                c.eat(b'[')?;
                if c.peek() == Some(b']') {
                    c.pos += 1;
                    return Some(());
                }
                let capabilities = &mut agent.capabilities;
                loop {
                    let capability = c.non_empty_text()?;
                    if capabilities.len == MAX_CAPABILITIES || c.slice(capability).contains(&b',') {
                        return None;
                    }
                    capabilities.items[capabilities.len] = capability;
                    capabilities.len += 1;
                    match c.peek() {
                        Some(b',') => c.pos += 1,
                        Some(b']') => {
                            c.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
        }
        Some(())
    })?;
    (seen == 0b111).then_some(agent)
}

/// An optional text field: absent, `null` or present.
#[derive(Clone, Copy, Default)]
enum Opt {
    #[default]
    Absent,
    Null,
    Present(Span),
}

fn optional_text(c: &mut Cursor<'_>) -> Option<Opt> {
    if c.null() {
        return Some(Opt::Null);
    }
    c.non_empty_text().map(Opt::Present)
}

/// A2A message JSON → CloudEvent JSON for a message this module converts (see the module
/// documentation), appended to `out`, with `payload` as scratch; `false`, with `out` untouched,
/// for anything else.
pub fn a2a_json_to_event_json(input: &[u8], payload: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    read_a2a_json(input, payload).map(|message| message.write_event_json(input, payload, out)).is_some()
}

struct A2aSpans {
    escaped: Vec<u8>,
    version: Span,
    message_id: Span,
    timestamp: Span,
    message_type: Span,
    source: AgentSpans,
    target: Option<AgentSpans>,
    target_null: bool,
    priority: Span,
    ttl: Span,
    correlation_id: Span,
    collaboration_id: Opt,
    traceparent: Opt,
}

/// The members of an A2A message in the order its writers give them.
const MESSAGE: [Name; 9] = [
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
const TARGET_AGENT: usize = 5;
const METADATA: [Name; 5] = [
    Name::new("priority"),
    Name::new("ttl"),
    Name::new("correlationId"),
    Name::new("collaborationId"),
    Name::new("traceparent"),
];

fn read_a2a_json(input: &[u8], payload: &mut Vec<u8>) -> Option<A2aSpans> {
    let mut c = Cursor::new(input)?;
    let mut seen = 0u32;
    let (mut version, mut message_id, mut timestamp, mut message_type) = Default::default();
    let (mut source, mut target, mut target_null) = (AgentSpans::default(), None, false);
    let (mut priority, mut ttl, mut correlation_id) = Default::default();
    let (mut collaboration_id, mut traceparent) = (Opt::Absent, Opt::Absent);
    c.object(&MESSAGE, |c, at| {
        once(&mut seen, at)?;
        match at {
            0 => {
                let protocol = c.text()?;
                (c.slice(protocol) == b"A2A").then_some(())?;
            }
            1 => version = c.non_empty_text()?,
            2 => message_id = c.non_empty_text()?,
            3 => timestamp = c.non_empty_text()?,
            4 => source = agent(c)?,
            5 => {
                if c.null() {
                    target_null = true;
                } else {
                    target = Some(agent(c)?);
                }
            }
            6 => message_type = c.non_empty_text()?,
            7 => c.transcode(payload)?,
            _ => {
                let mut meta_seen = 0u32;
                c.object(&METADATA, |c, at| {
                    once(&mut meta_seen, at)?;
                    match at {
                        0 => {
                            priority = c.text()?;
                            PRIORITIES.iter().any(|p| p.as_bytes() == c.slice(priority)).then_some(())?;
                        }
                        1 => ttl = c.ttl()?,
                        2 => correlation_id = c.non_empty_text()?,
                        3 => collaboration_id = optional_text(c)?,
                        _ => traceparent = optional_text(c)?,
                    }
                    Some(())
                })?;
                (meta_seen & 0b111 == 0b111).then_some(())?;
            }
        }
        Some(())
    })?;
    c.finish()?;
    let required = (1 << MESSAGE.len()) - 1 - (1 << TARGET_AGENT);
    if seen & required != required || rfc3339_problem(c.str(timestamp)?).is_some() {
        return None;
    }
    Some(A2aSpans {
        escaped: c.escaped,
        version,
        message_id,
        timestamp,
        message_type,
        source,
        target,
        target_null,
        priority,
        ttl,
        correlation_id,
        collaboration_id,
        traceparent,
    })
}

/// Appends the output of a conversion piece by piece.
struct Writer<'o, 'i> {
    out: &'o mut Vec<u8>,
    input: &'i [u8],
    escaped: &'i [u8],
}

impl Writer<'_, '_> {
    #[inline(always)]
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Input bytes `from..to`, or side buffer bytes from the input's length on.
    #[inline(always)]
    fn copy(&mut self, from: usize, to: usize) {
        match from.checked_sub(self.input.len()) {
            None => copy_run(self.out, self.input, from, to),
            Some(at) => self.out.extend_from_slice(&self.escaped[at..to - self.input.len()]),
        }
    }

    /// The span's text without its quotes.
    #[inline(always)]
    fn content(&mut self, span: Span) {
        self.copy(span.start as usize, span.end as usize);
    }

    /// The span's string literal, quotes included (they are the bytes around it in the input).
    #[inline(always)]
    fn literal(&mut self, span: Span) {
        self.copy(span.start as usize - 1, span.end as usize + 1);
    }

    fn optional(&mut self, key: &[u8], value: Opt, null: &[u8]) {
        match value {
            Opt::Absent => {}
            Opt::Null => {
                self.raw(key);
                self.raw(null);
            }
            Opt::Present(span) => {
                self.raw(key);
                self.literal(span);
            }
        }
    }
}

impl A2aSpans {
    /// What [`super::a2a::A2aMessage::write_event_json`] writes for the message.
    fn write_event_json(&self, input: &[u8], payload: &[u8], out: &mut Vec<u8>) {
        fn agent(w: &mut Writer<'_, '_>, agent: &AgentSpans, keys: [&[u8]; 3]) {
            w.raw(keys[0]);
            w.literal(agent.id);
            w.raw(keys[1]);
            w.literal(agent.kind);
            w.raw(keys[2]);
            w.raw(b"\"");
            let capabilities = &agent.capabilities;
            for (i, &capability) in capabilities.items[..capabilities.len].iter().enumerate() {
                if i > 0 {
                    w.raw(b",");
                }
                w.content(capability);
            }
            w.raw(b"\"");
        }
        // Room for the usual event, block copies included, so that no write grows the buffer.
        out.reserve(input.len() + payload.len() + 512);
        let mut w = Writer { out, input, escaped: &self.escaped };
        w.raw(b"{\"specversion\":\"1.0\",\"id\":");
        w.literal(self.message_id);
        w.raw(b",\"source\":\"/agents/");
        w.content(self.source.id);
        w.raw(b"\",\"type\":\"a2a.");
        w.content(self.message_type);
        w.raw(b"\",\"datacontenttype\":\"application/json\",\"time\":");
        w.literal(self.timestamp);
        w.raw(b",\"protocol\":\"A2A\",\"protocolversion\":");
        w.literal(self.version);
        w.raw(b",\"messagetype\":");
        w.literal(self.message_type);
        agent(&mut w, &self.source, [b",\"sourceagent\":", b",\"sourceagenttype\":", b",\"agentcapabilities\":"]);
        if self.target_null {
            w.raw(b",\"targetagent\":\"\"");
        } else if let Some(target) = &self.target {
            let keys: [&[u8]; 3] = [b",\"targetagent\":", b",\"targetagenttype\":", b",\"targetagentcapabilities\":"];
            agent(&mut w, target, keys);
        }
        w.raw(b",\"priority\":");
        w.literal(self.priority);
        w.raw(b",\"ttl\":");
        w.content(self.ttl);
        w.raw(b",\"correlationid\":");
        w.literal(self.correlation_id);
        w.optional(b",\"collaborationid\":", self.collaboration_id, b"\"\"");
        w.optional(b",\"traceparent\":", self.traceparent, b"\"\"");
        w.raw(b",\"data\":");
        w.raw(payload);
        w.raw(b"}");
    }
}

/// CloudEvent JSON → A2A message JSON for an event this module converts (only the attributes the
/// mapping writes), appended to `out`, with `payload` as scratch; `false`, with `out` untouched,
/// for anything else.
pub fn event_json_to_a2a_json(input: &[u8], payload: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    read_event_json(input, payload).map(|event| event.write_a2a_json(input, payload, out)).is_some()
}

/// Attribute indexes, in the order [`super::a2a::A2aMessage::write_event_json`] writes them.
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

const ATTRIBUTES: [Name; attr::COUNT] = [
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

/// Required attributes (the target agent's are required only with a target agent).
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

struct EventSpans {
    escaped: Vec<u8>,
    seen: u32,
    spans: [Span; attr::COUNT],
}

/// A comma-separated capability list the direct reader accepts: empty, or no empty item.
fn is_capability_list(list: &[u8]) -> bool {
    list.is_empty() || (list[0] != b',' && list[list.len() - 1] != b',' && !list.windows(2).any(|w| w == b",,"))
}

fn read_event_json(input: &[u8], payload: &mut Vec<u8>) -> Option<EventSpans> {
    let mut c = Cursor::new(input)?;
    let mut event = EventSpans { seen: 0, spans: [Span::default(); attr::COUNT], escaped: Vec::new() };
    c.object(&ATTRIBUTES, |c, at| {
        once(&mut event.seen, at)?;
        event.spans[at] = match at {
            attr::DATA => {
                c.transcode(payload)?;
                Span::default()
            }
            attr::TTL => c.ttl()?,
            _ if MAY_BE_EMPTY & (1 << at) != 0 => c.text()?,
            _ => c.non_empty_text()?,
        };
        Some(())
    })?;
    c.finish()?;
    if event.seen & REQUIRED != REQUIRED {
        return None;
    }
    let slice = |at: usize| c.slice(event.spans[at]);
    let has = |at: usize| event.seen & (1 << at) != 0;
    if slice(attr::SPECVERSION) != b"1.0"
        || slice(attr::PROTOCOL) != b"A2A"
        || (has(attr::DATACONTENTTYPE) && slice(attr::DATACONTENTTYPE) != b"application/json")
        || !PRIORITIES.iter().any(|p| p.as_bytes() == slice(attr::PRIORITY))
        || !is_capability_list(slice(attr::AGENTCAPABILITIES))
        || rfc3339_problem(c.str(event.spans[attr::TIME])?).is_some()
    {
        return None;
    }
    if has(attr::TARGETAGENT)
        && !event.spans[attr::TARGETAGENT].is_empty()
        && !(has(attr::TARGETAGENTTYPE)
            && has(attr::TARGETAGENTCAPABILITIES)
            && is_capability_list(slice(attr::TARGETAGENTCAPABILITIES)))
    {
        return None;
    }
    event.escaped = c.escaped;
    Some(event)
}

impl EventSpans {
    /// What [`super::a2a::A2aMessage::write_json_with`] writes for the message.
    fn write_a2a_json(&self, input: &[u8], payload: &[u8], out: &mut Vec<u8>) {
        fn agent(w: &mut Writer<'_, '_>, id: Span, kind: Span, capabilities: Span) {
            w.raw(b"{\"agentId\":");
            w.literal(id);
            w.raw(b",\"agentType\":");
            w.literal(kind);
            w.raw(b",\"capabilities\":[");
            if !capabilities.is_empty() {
                w.raw(b"\"");
                let list = slice(w.input, w.escaped, capabilities);
                let (first, end) = (capabilities.start as usize, capabilities.end as usize);
                let mut start = first;
                for (i, &b) in list.iter().enumerate() {
                    if b == b',' {
                        w.copy(start, first + i);
                        w.raw(b"\",\"");
                        start = first + i + 1;
                    }
                }
                w.copy(start, end);
                w.raw(b"\"");
            }
            w.raw(b"]}");
        }
        let s = &self.spans;
        let has = |at: usize| self.seen & (1 << at) != 0;
        out.reserve(input.len() + payload.len() + 512);
        let mut w = Writer { out, input, escaped: &self.escaped };
        w.raw(b"{\"protocol\":\"A2A\",\"version\":");
        w.literal(s[attr::PROTOCOLVERSION]);
        w.raw(b",\"messageId\":");
        w.literal(s[attr::ID]);
        w.raw(b",\"timestamp\":");
        w.literal(s[attr::TIME]);
        w.raw(b",\"sourceAgent\":");
        agent(&mut w, s[attr::SOURCEAGENT], s[attr::SOURCEAGENTTYPE], s[attr::AGENTCAPABILITIES]);
        if has(attr::TARGETAGENT) {
            w.raw(b",\"targetAgent\":");
            if s[attr::TARGETAGENT].is_empty() {
                w.raw(b"null");
            } else {
                agent(&mut w, s[attr::TARGETAGENT], s[attr::TARGETAGENTTYPE], s[attr::TARGETAGENTCAPABILITIES]);
            }
        }
        w.raw(b",\"messageType\":");
        w.literal(s[attr::MESSAGETYPE]);
        w.raw(b",\"payload\":");
        w.raw(payload);
        w.raw(b",\"metadata\":{\"priority\":");
        w.literal(s[attr::PRIORITY]);
        w.raw(b",\"ttl\":");
        w.content(s[attr::TTL]);
        w.raw(b",\"correlationId\":");
        w.literal(s[attr::CORRELATIONID]);
        let optional = |at: usize| match s[at] {
            _ if !has(at) => Opt::Absent,
            span if span.is_empty() => Opt::Null,
            span => Opt::Present(span),
        };
        w.optional(b",\"collaborationId\":", optional(attr::COLLABORATIONID), b"null");
        w.optional(b",\"traceparent\":", optional(attr::TRACEPARENT), b"null");
        w.raw(b"}}");
    }
}
