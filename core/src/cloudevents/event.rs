//! The CloudEvents 1.0 event, its validation, and the JSON event format (structured and batch).

use std::borrow::Cow;

use crate::error::{Error, Result};

use super::json::{PResult, Parser};
use super::time::rfc3339_problem;
use super::value::{base64_decode, base64_encode, parse, write_str, write_value, Value};

pub const SPECVERSION: &str = "1.0";

/// An extension attribute value, typed as the CloudEvents type system allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Extension<'a> {
    Str(Cow<'a, str>),
    /// CloudEvents `Integer` is a signed 32-bit number.
    Int(i32),
    Bool(bool),
    /// Written as a base64 string: every event format and binding carries binary as text.
    Binary(Cow<'a, [u8]>),
}

impl Extension<'_> {
    /// The canonical string form used by bindings that carry every attribute as text.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            Extension::Str(s) => out.extend_from_slice(s.as_bytes()),
            Extension::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Extension::Bool(true) => out.extend_from_slice(b"true"),
            Extension::Bool(false) => out.extend_from_slice(b"false"),
            Extension::Binary(bytes) => base64_encode(bytes, out),
        }
    }
}

/// The event's payload: binary (`data_base64` in JSON) or a JSON value (`data`).
#[derive(Debug, Clone, PartialEq)]
pub enum Data<'a> {
    Binary(Cow<'a, [u8]>),
    Json(Value<'a>),
}

/// A valid CloudEvents 1.0 event: constructing one through [`CloudEvent::from_attributes`] checks
/// every rule, so writers never have to.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent<'a> {
    pub id: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub ty: Cow<'a, str>,
    pub time: Option<Cow<'a, str>>,
    pub datacontenttype: Option<Cow<'a, str>>,
    pub dataschema: Option<Cow<'a, str>>,
    pub subject: Option<Cow<'a, str>>,
    pub extensions: Vec<(Cow<'a, str>, Extension<'a>)>,
    pub data: Option<Data<'a>>,
}

/// True when a media type declares JSON content: `*/json` or `*/*+json`, parameters ignored.
pub fn is_json_media_type(media_type: &str) -> bool {
    if media_type == "application/json" {
        return true;
    }
    let essence = media_type.split(';').next().unwrap_or("").trim();
    match essence.split_once('/') {
        Some((_, subtype)) => {
            let subtype = subtype.as_bytes();
            subtype.eq_ignore_ascii_case(b"json")
                || (subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
        }
        None => false,
    }
}

/// Extension names: lower-case ASCII letters and digits only (the 20-character limit is only a SHOULD).
pub fn check_extension_name(name: &str) -> Result<()> {
    if name.is_empty() || !is_lower_alphanumeric(name.as_bytes()) {
        return Err(Error::validation(
            name,
            "attribute names must consist of lower-case letters a-z and digits 0-9 only",
        ));
    }
    Ok(())
}

/// Whether every byte is an ASCII lower-case letter or digit, eight bytes at a time: extension
/// names are checked on every attribute of every event written or read.
fn is_lower_alphanumeric(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // With every byte below 0x80, adding (0x80 - c) sets a byte's high bit exactly when it is >= c,
    // and no byte carries into the next.
    let at_least = |w: u64, c: u8| w.wrapping_add(ONES * u64::from(0x80 - c)) & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        if w & HIGH != 0 {
            return false;
        }
        let lower = at_least(w, b'a') & !at_least(w, b'z' + 1);
        let digit = at_least(w, b'0') & !at_least(w, b'9' + 1);
        if lower | digit != HIGH {
            return false;
        }
    }
    chunks.remainder().iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// CloudEvents `String` values must not contain control characters (U+0000–U+001F, U+007F–U+009F)
/// or noncharacters; surrogates cannot occur in a Rust string.
pub fn check_string(name: &str, s: &str) -> Result<()> {
    if is_printable_ascii(s.as_bytes()) {
        return Ok(());
    }
    for c in s.chars() {
        let code = u32::from(c);
        if code < 0x20 || (0x7F..=0x9F).contains(&code) {
            return Err(Error::validation(name, format!("control character U+{code:04X} is not allowed")));
        }
        if (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE {
            return Err(Error::validation(name, format!("noncharacter U+{code:04X} is not allowed")));
        }
    }
    Ok(())
}

/// Whether [`check_string`] accepts `s`, without building its error: fast paths that fall back
/// to the checked path on `false` call this, since a returned `Result<(), Error>` goes through
/// memory and stalls the caller's loads of it.
pub fn is_valid_string(s: &str) -> bool {
    is_printable_ascii(s.as_bytes())
        || s.chars().all(|c| {
            let code = u32::from(c);
            !(code < 0x20
                || (0x7F..=0x9F).contains(&code)
                || (0xFDD0..=0xFDEF).contains(&code)
                || code & 0xFFFE == 0xFFFE)
        })
}

/// Whether every byte is in 0x20..0x7F, eight bytes at a time.
fn is_printable_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let del = w ^ (ONES * 0x7F);
        // High bytes, bytes below 0x20, and DEL bytes.
        if (w | (w.wrapping_sub(ONES * 0x20) & !w) | (del.wrapping_sub(ONES) & !del)) & HIGH != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|b| (0x20..0x7F).contains(b))
}

fn required_str<'a>(name: &str, value: Value<'a>) -> Result<Cow<'a, str>> {
    match value {
        Value::Str(s) if !s.is_empty() => check_string(name, &s).map(|()| s),
        Value::Str(_) => Err(Error::validation(name, "must be a non-empty string")),
        other => Err(Error::validation(name, format!("must be a string, not {}", other.kind()))),
    }
}

fn check_media_type(name: &str, value: &str) -> Result<()> {
    if value == "application/json" {
        return Ok(());
    }
    let essence = value.split(';').next().unwrap_or("").trim();
    let token =
        |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b));
    match essence.split_once('/') {
        Some((ty, sub)) if token(ty) && token(sub) => Ok(()),
        _ => Err(Error::validation(name, "must be an RFC 2046 media type such as application/json")),
    }
}

fn check_absolute_uri(name: &str, value: &str) -> Result<()> {
    let scheme_ok = match value.split_once(':') {
        Some((scheme, _)) => {
            scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        }
        None => false,
    };
    if !scheme_ok || value.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(Error::validation(name, "must be an absolute URI (RFC 3986) such as https://example.com/schema"));
    }
    Ok(())
}

pub fn extension_value<'a>(name: &str, value: Value<'a>) -> Result<Option<Extension<'a>>> {
    let range = "integer extension out of the CloudEvents range -2147483648..2147483647";
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Str(s) => {
            check_string(name, &s)?;
            Extension::Str(s)
        }
        Value::Bool(b) => Extension::Bool(b),
        Value::Bytes(b) => Extension::Binary(b),
        Value::Int(i) => Extension::Int(i32::try_from(i).map_err(|_| Error::validation(name, range))?),
        Value::UInt(_) => return Err(Error::validation(name, range)),
        other => {
            return Err(Error::validation(
                name,
                format!("extension values must be a string, integer, boolean or bytes, not {}", other.kind()),
            ))
        }
    }))
}

#[cfg(test)]
const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];

/// Where a reader keeps the extension attributes it meets; `has` answers duplicate checks.
pub trait Extensions<'a>: Default {
    fn has(&self, name: &str) -> bool;
    fn add(&mut self, name: Cow<'a, str>, value: Extension<'a>);

    /// Checks an extension attribute met in the input and keeps it unless it is null.
    fn insert(&mut self, name: Cow<'a, str>, value: Value<'a>) -> Result<()> {
        insert_extension(self, name, value)
    }
}

/// The rules of an extension attribute: its name, no duplicates, and a value of an extension type.
pub fn insert_extension<'a, E: Extensions<'a>>(store: &mut E, name: Cow<'a, str>, value: Value<'a>) -> Result<()> {
    check_extension_name(&name)?;
    if store.has(&name) {
        return Err(Error::validation(name, "duplicate attribute"));
    }
    // The usual value, a string with nothing to refuse, is kept here: the `Result` of
    // `extension_value` goes through memory and stalls the loads of it that follow.
    let value = match value {
        Value::Str(text) if is_valid_string(&text) => {
            store.add(name, Extension::Str(text));
            return Ok(());
        }
        other => other,
    };
    if let Some(ext) = extension_value(&name, value)? {
        store.add(name, ext);
    }
    Ok(())
}

impl<'a> Extensions<'a> for Vec<(Cow<'a, str>, Extension<'a>)> {
    fn has(&self, name: &str) -> bool {
        self.iter().any(|(n, _)| n == name)
    }

    fn add(&mut self, name: Cow<'a, str>, value: Extension<'a>) {
        self.push((name, value));
    }
}

/// Extensions with a one-word summary of the names kept (a bit per name's length and last byte),
/// so that the duplicate check of a name not seen before, the usual case, skips the pass over them.
#[derive(Debug, Default)]
pub struct SummarisedExtensions<'a> {
    items: Vec<(Cow<'a, str>, Extension<'a>)>,
    names: u64,
}

impl SummarisedExtensions<'_> {
    fn bit(name: &str) -> u64 {
        let last = name.as_bytes().last().copied().unwrap_or(0);
        1 << ((name.len() * 7 + usize::from(last)) % 64)
    }
}

impl<'a> Extensions<'a> for SummarisedExtensions<'a> {
    fn has(&self, name: &str) -> bool {
        self.names & Self::bit(name) != 0 && self.items.iter().any(|(n, _)| n == name)
    }

    fn add(&mut self, name: Cow<'a, str>, value: Extension<'a>) {
        self.names |= Self::bit(&name);
        self.items.push((name, value));
    }
}

/// A checked event whose extensions are kept in `E`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventParts<'a, E> {
    pub id: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub ty: Cow<'a, str>,
    pub time: Option<Cow<'a, str>>,
    pub datacontenttype: Option<Cow<'a, str>>,
    pub dataschema: Option<Cow<'a, str>>,
    pub subject: Option<Cow<'a, str>>,
    pub extensions: E,
    pub data: Option<Data<'a>>,
}

/// The rules of the event attributes, applied one attribute at a time as a reader meets them
/// (so that a one-pass reader and [`CloudEvent::from_attributes`] accept exactly the same events).
#[derive(Default)]
pub struct AttributeReader<'a, E> {
    required: [Option<Cow<'a, str>>; 4],
    time: Option<Cow<'a, str>>,
    datacontenttype: Option<Cow<'a, str>>,
    dataschema: Option<Cow<'a, str>>,
    subject: Option<Cow<'a, str>>,
    extensions: E,
    data: Option<Data<'a>>,
    data_base64: Option<Cow<'a, str>>,
    /// Bit per context attribute already met (see `context_slot`), null or not.
    seen: u16,
}

const CONTEXT: [&str; 10] =
    ["specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "subject", "data", "data_base64"];

fn context_slot(name: &str) -> Option<usize> {
    Some(match name {
        "specversion" => 0,
        "id" => 1,
        "source" => 2,
        "type" => 3,
        "time" => 4,
        "datacontenttype" => 5,
        "dataschema" => 6,
        "subject" => 7,
        "data" => 8,
        "data_base64" => 9,
        _ => return None,
    })
}

impl<'a, E: Extensions<'a>> AttributeReader<'a, E> {
    /// A reader that keeps the extensions in `extensions` (one sized for them, say).
    pub fn with_extensions(extensions: E) -> Self {
        AttributeReader { extensions, ..Self::default() }
    }

    /// Checks and keeps one attribute as found in the JSON format (or a Python dict): `data` may be
    /// bytes or any JSON value, `data_base64` a base64 string; `null` means unset.
    pub fn add(&mut self, name: Cow<'a, str>, value: Value<'a>) -> Result<()> {
        let Some(slot) = context_slot(&name) else {
            return self.extensions.insert(name, value);
        };
        let slot_name = CONTEXT[slot];
        if self.seen & (1 << slot) != 0 {
            return Err(Error::validation(slot_name, "duplicate attribute"));
        }
        self.seen |= 1 << slot;
        if slot == 8 {
            self.data = Some(match value {
                Value::Bytes(b) => Data::Binary(b),
                other => Data::Json(other),
            });
            return Ok(());
        }
        if value == Value::Null {
            // JSON format 2.2: a null attribute is the same as an absent one.
            return Ok(());
        }
        if slot == 9 {
            // Unlike the string attributes, empty binary data is valid.
            return match value {
                Value::Str(text) => {
                    self.data_base64 = Some(text);
                    Ok(())
                }
                other => Err(Error::validation(slot_name, format!("must be a base64 string, not {}", other.kind()))),
            };
        }
        let text = required_str(slot_name, value)?;
        match slot {
            4 => {
                if let Some(problem) = rfc3339_problem(&text) {
                    return Err(Error::validation("time", problem));
                }
                self.time = Some(text);
            }
            5 => {
                check_media_type(slot_name, &text)?;
                self.datacontenttype = Some(text);
            }
            6 => {
                check_absolute_uri(slot_name, &text)?;
                self.dataschema = Some(text);
            }
            7 => self.subject = Some(text),
            _ => self.required[slot] = Some(text),
        }
        Ok(())
    }

    /// The rules about the whole event, once every attribute has been added.
    pub fn finish(self) -> Result<EventParts<'a, E>> {
        let [specversion, id, source, ty] = self.required;
        match specversion.as_deref() {
            Some(SPECVERSION) => {}
            Some(other) => return Err(Error::validation("specversion", format!("must be \"1.0\", not {other:?}"))),
            None => return Err(Error::validation("specversion", "required attribute is missing")),
        }
        let missing = |name: &str| Error::validation(name, "required attribute is missing");
        let mut parts = EventParts {
            id: id.ok_or_else(|| missing("id"))?,
            source: source.ok_or_else(|| missing("source"))?,
            ty: ty.ok_or_else(|| missing("type"))?,
            time: self.time,
            datacontenttype: self.datacontenttype,
            dataschema: self.dataschema,
            subject: self.subject,
            extensions: self.extensions,
            data: self.data,
        };
        if let Some(text) = self.data_base64 {
            if parts.data.is_some() {
                return Err(Error::validation("data_base64", "data and data_base64 are mutually exclusive"));
            }
            parts.data = Some(Data::Binary(Cow::Owned(base64_decode(&text, "data_base64")?)));
        }
        if let Some(Data::Json(value)) = &parts.data {
            let is_json = parts.datacontenttype.as_deref().map_or(true, is_json_media_type);
            if !is_json && !matches!(value, Value::Str(_)) {
                return Err(Error::validation(
                    "data",
                    format!(
                        "with the non-JSON datacontenttype {:?} data must be a string or bytes, not {}",
                        parts.datacontenttype.as_deref().unwrap_or(""),
                        value.kind()
                    ),
                ));
            }
        }
        Ok(parts)
    }
}

/// Reads one event in the JSON format in one pass, its extensions kept in `E`. An attribute that
/// breaks a rule is reported once the whole document has parsed, so that malformed JSON is always
/// a decode error, as it is for [`CloudEvent::from_json`].
pub fn read_event_json<'a, E: Extensions<'a>>(input: &'a [u8]) -> Result<EventParts<'a, E>> {
    read_event_json_with(input, |p| p.value())
}

/// [`read_event_json`] with `data` read by `data`, which may stand in a value of the same JSON type
/// for it (a converter that writes the data elsewhere needs no tree of it).
pub fn read_event_json_with<'a, E: Extensions<'a>>(
    input: &'a [u8],
    mut data: impl FnMut(&mut Parser<'a>) -> PResult<Value<'a>>,
) -> Result<EventParts<'a, E>> {
    let mut parser = Parser::new(input)?;
    if parser.peek() != Some(b'{') {
        let value = parser.value()?;
        parser.finish()?;
        return Err(Error::validation("event", format!("must be a JSON object, not {}", value.kind())));
    }
    let mut reader = AttributeReader::<E>::default();
    let mut problem = None;
    parser.object(|p, name| {
        if name == "data" {
            let value = data(p)?;
            if problem.is_none() {
                problem = reader.add(name, value).err();
            }
            return Ok(());
        }
        p.value_then(|value| {
            if problem.is_none() {
                problem = reader.add(name, value).err();
            }
        })
    })?;
    parser.finish()?;
    match problem {
        Some(error) => Err(error),
        None => reader.finish(),
    }
}

impl<'a> CloudEvent<'a> {
    /// Builds an event from its attributes as found in the JSON format (or a Python dict):
    /// `data` may be bytes or any JSON value, `data_base64` a base64 string; `null` means unset.
    pub fn from_attributes(attributes: Vec<(Cow<'a, str>, Value<'a>)>) -> Result<Self> {
        let mut reader = AttributeReader::<Vec<_>>::default();
        for (name, value) in attributes {
            reader.add(name, value)?;
        }
        Ok(Self::from_parts(reader.finish()?))
    }

    pub fn from_parts(parts: EventParts<'a, Vec<(Cow<'a, str>, Extension<'a>)>>) -> Self {
        let EventParts { id, source, ty, time, datacontenttype, dataschema, subject, extensions, data } = parts;
        CloudEvent { id, source, ty, time, datacontenttype, dataschema, subject, extensions, data }
    }

    /// JSON format 3.1.1: data is JSON when the content type says so or is absent.
    pub fn data_is_json(&self) -> bool {
        self.datacontenttype.as_deref().map_or(true, is_json_media_type)
    }

    pub fn extension(&self, name: &str) -> Option<&Extension<'a>> {
        self.extensions.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// Appends the event in the JSON event format (`application/cloudevents+json`).
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<()> {
        self.write_json_with(out, |out, value| write_value(out, value, "data"))
    }

    /// [`CloudEvent::write_json`] with JSON `data` written by `write_data`, given the event's data
    /// value: a caller that holds the data in another form (Python objects) writes it from there,
    /// the event then carrying only a value of the same JSON type for the rules.
    pub fn write_json_with(
        &self,
        out: &mut Vec<u8>,
        write_data: impl FnOnce(&mut Vec<u8>, &Value<'a>) -> Result<()>,
    ) -> Result<()> {
        let optional = [&self.datacontenttype, &self.dataschema, &self.subject, &self.time];
        let extensions = |out: &mut Vec<u8>| {
            for (name, ext) in &self.extensions {
                write_extension_member(out, name, ext);
            }
        };
        write_event_json(out, [&self.id, &self.source, &self.ty], optional, extensions, &self.data, write_data)
    }

    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(512);
        self.write_json(&mut out)?;
        Ok(out)
    }

    /// Reads one event in the JSON event format.
    pub fn from_json(input: &'a [u8]) -> Result<Self> {
        read_event_json::<SummarisedExtensions>(input).map(|parts| {
            let EventParts { id, source, ty, time, datacontenttype, dataschema, subject, extensions, data } = parts;
            CloudEvent {
                id,
                source,
                ty,
                time,
                datacontenttype,
                dataschema,
                subject,
                extensions: extensions.items,
                data,
            }
        })
    }

    pub fn from_value(value: Value<'a>) -> Result<Self> {
        match value {
            Value::Object(members) => Self::from_attributes(members),
            other => Err(Error::validation("event", format!("must be a JSON object, not {}", other.kind()))),
        }
    }
}

/// Appends one extension attribute as a member of an event object: `,"name":value`.
pub fn write_extension_member(out: &mut Vec<u8>, name: &str, ext: &Extension<'_>) {
    out.push(b',');
    write_str(out, name);
    out.push(b':');
    match ext {
        Extension::Str(s) => write_str(out, s),
        Extension::Binary(_) => {
            out.push(b'"');
            ext.write_text(out);
            out.push(b'"');
        }
        Extension::Int(_) | Extension::Bool(_) => ext.write_text(out),
    }
}

/// The JSON event format: `required` are id, source and type; `optional` datacontenttype,
/// dataschema, subject and time; `extensions` appends the extension members.
fn write_event_json<'a>(
    out: &mut Vec<u8>,
    required: [&Cow<'a, str>; 3],
    optional: [&Option<Cow<'a, str>>; 4],
    extensions: impl FnOnce(&mut Vec<u8>),
    data: &Option<Data<'a>>,
    write_data: impl FnOnce(&mut Vec<u8>, &Value<'a>) -> Result<()>,
) -> Result<()> {
    let [id, source, ty] = required;
    out.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
    write_str(out, id);
    out.extend_from_slice(b",\"source\":");
    write_str(out, source);
    out.extend_from_slice(b",\"type\":");
    write_str(out, ty);
    for (name, value) in ["datacontenttype", "dataschema", "subject", "time"].into_iter().zip(optional) {
        if let Some(value) = value {
            out.push(b',');
            write_str(out, name);
            out.push(b':');
            write_str(out, value);
        }
    }
    extensions(out);
    match data {
        None => {}
        Some(Data::Binary(bytes)) => {
            out.extend_from_slice(b",\"data_base64\":\"");
            base64_encode(bytes, out);
            out.push(b'"');
        }
        Some(Data::Json(value)) => {
            out.extend_from_slice(b",\"data\":");
            write_data(out, value)?;
        }
    }
    out.push(b'}');
    Ok(())
}

/// Extensions of a source whose attribute names are distinct by construction (the keys of a
/// Python dict), written as JSON members as they are met: the duplicate check is left out and
/// nothing is kept but the text. [`EventParts::write_json_with`] writes the event around them.
#[derive(Debug, Default)]
pub struct WrittenExtensions {
    pub json: Vec<u8>,
}

impl<'a> Extensions<'a> for WrittenExtensions {
    fn has(&self, _name: &str) -> bool {
        false
    }

    fn add(&mut self, name: Cow<'a, str>, value: Extension<'a>) {
        write_extension_member(&mut self.json, &name, &value);
    }
}

impl<'a> EventParts<'a, WrittenExtensions> {
    /// Appends the event in the JSON event format (as [`CloudEvent::write_json_with`] does).
    pub fn write_json_with(
        &self,
        out: &mut Vec<u8>,
        write_data: impl FnOnce(&mut Vec<u8>, &Value<'a>) -> Result<()>,
    ) -> Result<()> {
        let optional = [&self.datacontenttype, &self.dataschema, &self.subject, &self.time];
        let extensions = |out: &mut Vec<u8>| out.extend_from_slice(&self.extensions.json);
        write_event_json(out, [&self.id, &self.source, &self.ty], optional, extensions, &self.data, write_data)
    }
}

/// Prefixes an error with the position of the failing item in a batch.
pub fn at_item(index: usize, error: Error) -> Error {
    match error {
        Error::Validation { path, message } => Error::Validation { path: format!("[{index}].{path}"), message },
        Error::Decode { offset, message } => Error::Decode { offset, message: format!("item {index}: {message}") },
        Error::Schema { message } => Error::Schema { message: format!("item {index}: {message}") },
        Error::Limit { limit, message } => Error::Limit { limit, message: format!("item {index}: {message}") },
        unknown @ Error::UnknownSchema { .. } => unknown,
    }
}

/// Writes events as one JSON array (`application/cloudevents-batch+json`).
pub fn write_batch(events: &[CloudEvent]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(events.len() * 256 + 2);
    out.push(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        event.write_json(&mut out).map_err(|e| at_item(i, e))?;
    }
    out.push(b']');
    Ok(out)
}

/// Reads a JSON batch: an array of events in the JSON event format.
pub fn read_batch(input: &[u8]) -> Result<Vec<CloudEvent<'_>>> {
    match parse(input)? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| CloudEvent::from_value(item).map_err(|e| at_item(i, e)))
            .collect(),
        other => Err(Error::validation("batch", format!("must be a JSON array, not {}", other.kind()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_alphanumeric_names_byte_by_byte() {
        for byte in 0..=255u8 {
            let expected = byte.is_ascii_lowercase() || byte.is_ascii_digit();
            for at in 0..17 {
                let mut name = vec![b'a'; 17];
                name[at] = byte;
                assert_eq!(is_lower_alphanumeric(&name), expected, "byte {byte:#04x} at {at}");
            }
        }
    }

    type Attributes = Vec<(Cow<'static, str>, Value<'static>)>;

    fn attrs(pairs: &[(&'static str, Value<'static>)]) -> Attributes {
        pairs.iter().map(|(k, v)| (Cow::Borrowed(*k), v.clone())).collect()
    }

    fn s(text: &'static str) -> Value<'static> {
        Value::Str(Cow::Borrowed(text))
    }

    fn minimal() -> Attributes {
        attrs(&[("specversion", s("1.0")), ("id", s("1")), ("source", s("/src")), ("type", s("t"))])
    }

    fn path_of(result: Result<CloudEvent>) -> String {
        match result {
            Err(Error::Validation { path, .. }) => path,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn required_attributes_are_checked() {
        for name in REQUIRED {
            let missing: Vec<_> = minimal().into_iter().filter(|(n, _)| n != name).collect();
            assert_eq!(path_of(CloudEvent::from_attributes(missing)), name);
            let mut empty = minimal();
            empty.iter_mut().filter(|(n, _)| n == name).for_each(|(_, v)| *v = s(""));
            assert_eq!(path_of(CloudEvent::from_attributes(empty)), name);
        }
        let mut wrong = minimal();
        wrong[0].1 = s("0.3");
        assert_eq!(path_of(CloudEvent::from_attributes(wrong)), "specversion");
    }

    #[test]
    fn extension_names_and_values_follow_the_type_system() {
        for bad_name in ["Upper", "with_underscore", "dash-ed", ""] {
            let mut a = minimal();
            a.push((bad_name.into(), s("x")));
            assert_eq!(path_of(CloudEvent::from_attributes(a)), bad_name);
        }
        let mut a = minimal();
        a.push(("averyveryverylongextensionname".into(), Value::Int(5)));
        a.push(("flag".into(), Value::Bool(true)));
        a.push(("gone".into(), Value::Null));
        let event = CloudEvent::from_attributes(a).expect("valid");
        assert_eq!(event.extension("averyveryverylongextensionname"), Some(&Extension::Int(5)));
        assert_eq!(event.extension("gone"), None);
        for bad in [Value::Float(1.5), Value::Int(1 << 40), Value::Array(vec![])] {
            let mut a = minimal();
            a.push(("ext".into(), bad));
            assert_eq!(path_of(CloudEvent::from_attributes(a)), "ext");
        }
    }

    #[test]
    fn strings_without_control_characters_or_noncharacters() {
        assert!(check_string("id", "plain text é 😀 0123456789").is_ok());
        for bad in ["a\nb", "a\u{1f}b", "\u{7f}", "\u{85}", "\u{fffe}", "\u{1ffff}", "\u{fdd0}", "0123456789\t"] {
            assert!(check_string("id", bad).is_err(), "{bad:?}");
        }
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(is_printable_ascii(&bytes), (0x20..0x7F).contains(&b), "{len} {at} {b}");
                }
            }
        }
        for name in ["id", "source", "type", "subject", "ext"] {
            let mut a = minimal();
            a.retain(|(n, _)| n != name);
            a.push((Cow::Borrowed(name), s("a\nb")));
            assert_eq!(path_of(CloudEvent::from_attributes(a)), name);
        }
    }

    #[test]
    fn optional_attributes_are_checked() {
        for (name, bad) in
            [("time", "yesterday"), ("datacontenttype", "json"), ("dataschema", "/relative"), ("subject", "")]
        {
            let mut a = minimal();
            a.push((name.into(), s(bad)));
            assert_eq!(path_of(CloudEvent::from_attributes(a)), name);
        }
    }

    #[test]
    fn data_follows_the_content_type() {
        let mut a = minimal();
        a.push(("datacontenttype".into(), s("text/plain")));
        a.push(("data".into(), Value::Object(vec![])));
        assert_eq!(path_of(CloudEvent::from_attributes(a)), "data");
        let mut both = minimal();
        both.push(("data".into(), s("x")));
        both.push(("data_base64".into(), s("AA==")));
        assert_eq!(path_of(CloudEvent::from_attributes(both)), "data_base64");
        assert!(is_json_media_type("application/cloudevents+JSON; charset=utf-8"));
        assert!(is_json_media_type("text/json"));
        assert!(!is_json_media_type("application/jsonx"));
        assert!(!is_json_media_type("+json"));
    }

    #[test]
    fn json_round_trip_keeps_everything() {
        let mut a = minimal();
        a.extend(attrs(&[
            ("time", s("2018-04-05T17:31:00Z")),
            ("subject", s("sub")),
            ("dataschema", s("https://example.com/s")),
            ("datacontenttype", s("application/json")),
            ("count", Value::Int(-7)),
            ("data", Value::Object(vec![("k".into(), Value::Array(vec![Value::Null, Value::Float(1.25)]))])),
        ]));
        let event = CloudEvent::from_attributes(a).expect("valid");
        assert_eq!(CloudEvent::from_json(&event.to_json().expect("writes")).expect("reads"), event);
        let mut binary = minimal();
        binary.push(("data".into(), Value::Bytes(vec![0, 255, 7].into())));
        let event = CloudEvent::from_attributes(binary).expect("valid");
        let json = event.to_json().expect("writes");
        assert!(json.windows(12).any(|w| w == b"data_base64\""));
        assert_eq!(CloudEvent::from_json(&json).expect("reads"), event);
    }

    #[test]
    fn string_check_without_errors_agrees() {
        for s in [
            "",
            "plain",
            "eight ok",
            "nine is ok",
            "sixteen is ok ok",
            "seventeen\u{7f}is bad",
            "ten \u{1f}bad!",
            "é ok",
            "tab\there",
            "\u{7f}",
            "\u{85}",
            "\u{9f}",
            "\u{a0}",
            "\u{fdd0}",
            "\u{fffe}",
            "\u{1ffff}",
            "x\u{10fffd}",
        ] {
            assert_eq!(is_valid_string(s), check_string("x", s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn batch_errors_name_the_item() {
        let err = read_batch(br#"[{"specversion":"1.0","id":"1","source":"s","type":"t"},{"id":"2"}]"#)
            .expect_err("second is invalid");
        assert!(matches!(err, Error::Validation { ref path, .. } if path == "[1].specversion"), "{err}");
        assert!(matches!(read_batch(b"{}"), Err(Error::Validation { .. })));
        assert!(matches!(read_batch(b"[1,"), Err(Error::Decode { offset: 3, .. })));
    }
}
