//! The A2A envelope of a Kafka record: a CloudEvent in binary content mode whose value is a
//! Confluent-framed Avro record of one of a few message kinds.
//!
//! [`EnvelopeReader::prepare`] applies to one consumed record every rule up to its Avro body, in
//! this order: the size limit, the CloudEvents binding, the age limit, the A2A attributes (type,
//! protocol, content type, source agent, data), the wire header and the writer schema's record
//! name. [`EnvelopeReader::check_record`] applies the rules of the decoded record: its key is its
//! `task_id`, the fields it needs are not empty, costs are at least 0 and progress from 0 to 1.
//! Every error names the problem in the words agents put in their dead letters.
//! [`check_outbound`] applies the CloudEvents rules to the attributes that change from one outgoing
//! message to the next; the rest of an outgoing record is constant per kind and checked once.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::avro::{parse_wire_header, Codec, Plan, Schema};
use crate::cloudevents::event::{check_string, Extension};
use crate::cloudevents::kafka::{from_kafka_borrowed, Header};
use crate::cloudevents::value::Value;
use crate::cloudevents::{CloudEvent, Data};
use crate::error::{Error, Limit, Result};
use crate::wording::{fixed_1, float_str, format_g, repr_bytes, repr_optional, repr_str};

pub const PROTOCOL: &str = "A2A";
pub const CONTENT_TYPE: &str = "application/avro";

/// Fields of a record that are costs: absent, null or at least 0.
pub const COST_FIELDS: [&str; 4] = ["proposed_cost", "counter_offer", "agreed_cost", "offer"];
/// The field of a record that is a progress: absent, null or from 0 to 1.
pub const PROGRESS_FIELD: &str = "progress";
/// Fields that a record of the named Avro record may not leave empty, besides `task_id`.
const REQUIRED_FIELDS: [(&str, &[&str]); 1] = [("TaskRequest", &["capability"])];

/// The message limits of the mesh's protocol config, with the moment to measure ages from
/// (epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_bytes: u64,
    pub default_ttl: f64,
    pub now: f64,
}

/// A record value larger than `max_bytes` is too large.
pub fn check_size(size: u64, max_bytes: u64) -> Result<()> {
    if size > max_bytes {
        let message = format!("message is {size} bytes, more than messages.max_message_bytes={max_bytes}");
        return Err(Error::limit(Limit::TooLarge, message));
    }
    Ok(())
}

/// When a message was sent: its `time` attribute, or a moment in epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sent<'a> {
    Time(&'a str),
    Epoch(f64),
}

/// The time to live a message gives: none, its `ttl` attribute's text, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ttl<'a> {
    Absent,
    Text(&'a str),
    Seconds(f64),
}

/// A message older than its time to live (its own `ttl`, else `default_ttl`) at `now` has expired;
/// its own ttl of 0 never expires, and a message with no send time has no age.
pub fn check_age(sent: Option<Sent<'_>>, ttl: Ttl<'_>, default_ttl: f64, now: f64) -> Result<()> {
    let sent = match sent {
        None | Some(Sent::Time("")) => return Ok(()),
        Some(sent) => sent,
    };
    let (limit, origin) = match ttl {
        Ttl::Absent | Ttl::Text("") => (default_ttl, "messages.default_ttl_seconds"),
        Ttl::Text(text) => match seconds(text) {
            Some(limit) => (limit, "its ttl"),
            None => return Err(Error::validation("ttl", format!("{} is not a number of seconds", repr_str(text)))),
        },
        Ttl::Seconds(limit) => (limit, "its ttl"),
    };
    // A message's own ttl of 0 never expires; the default applies as it is.
    if limit == 0.0 && origin == "its ttl" {
        return Ok(());
    }
    let moment = match sent {
        Sent::Epoch(moment) => moment,
        Sent::Time(text) => match epoch_micros(text) {
            // As a timestamp is read in seconds: whole microseconds divided once, which is exact below 2**53.
            Some(micros) => micros as f64 / 1e6,
            None => return Err(Error::validation("time", format!("{} is not an RFC 3339 timestamp", repr_str(text)))),
        },
    };
    let age = now - moment;
    if age > limit {
        let message = format!("message expired: sent {}s ago, {origin} is {}s", fixed_1(age), format_g(limit));
        return Err(Error::limit(Limit::Expired, message));
    }
    Ok(())
}

/// A number of seconds written as a decimal or float literal (digits may be grouped with single
/// underscores), `inf` or `nan`, with spaces around it allowed; None for any other text.
fn seconds(text: &str) -> Option<f64> {
    let text = text.trim_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c) || ('\x1c'..='\x1f').contains(&c));
    if !text.is_ascii() {
        return None;
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.starts_with(['+', '-']) {
        return None;
    }
    if ["inf", "infinity", "nan"].iter().any(|word| unsigned.eq_ignore_ascii_case(word)) {
        return text.parse().ok();
    }
    let bytes = text.as_bytes();
    let mut digits = String::with_capacity(text.len());
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-' => digits.push(char::from(b)),
            b'_' if i > 0 && bytes[i - 1].is_ascii_digit() && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {}
            _ => return None,
        }
    }
    digits.parse().ok()
}

/// What [`EnvelopeReader::prepare`] found.
#[derive(Debug)]
pub enum Prepared<'a> {
    Ready(Attributes<'a>),
    /// The record breaks a rule; the error says which.
    Failed(Error),
    /// The writer schema id is not known to this reader yet: [`EnvelopeReader::add_writer`], then
    /// [`EnvelopeReader::resume`].
    UnknownSchema(Attributes<'a>),
    /// No reader codec was set for the message's kind (whose index this is).
    NoReader(usize),
}

/// The attributes of an A2A message the runtime needs, and its Avro body with the plan to read it.
#[derive(Debug)]
pub struct Attributes<'a> {
    pub kind: usize,
    pub id: Cow<'a, str>,
    pub source_agent: Cow<'a, str>,
    pub target_agent: Option<Cow<'a, str>>,
    pub collaboration_id: Option<Cow<'a, str>>,
    pub traceparent: Option<Cow<'a, str>>,
    /// None when absent or empty.
    pub priority: Option<Cow<'a, str>>,
    /// The consumer group the record is addressed to (`ce_targetgroup`); None when absent or empty.
    pub target_group: Option<Cow<'a, str>>,
    pub schema_id: u32,
    pub data: Cow<'a, [u8]>,
    /// Set once the writer schema is known: how to read the body, or why it cannot be resolved.
    pub plan: Option<std::result::Result<Arc<Plan>, Error>>,
}

struct Kind {
    ce_type: String,
    record: String,
    required: &'static [&'static str],
    reader: Option<Arc<Codec>>,
}

/// Reads consumed records of the given message kinds; readers and writer schemas are added as the
/// registry provides them.
#[derive(Default)]
pub struct EnvelopeReader {
    kinds: Vec<Kind>,
    writers: HashMap<u32, (String, Arc<Schema>)>,
    plans: HashMap<(usize, u32), std::result::Result<Arc<Plan>, Error>>,
}

fn short_name(full: &str) -> &str {
    full.rsplit('.').next().unwrap_or(full)
}

/// A number field of a decoded record, as the record rules see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldNumber {
    /// Absent or null.
    Absent,
    Int(i64),
    Float(f64),
    /// Anything else.
    Other,
}

/// What the record rules read of a decoded record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordFields<'a> {
    /// `task_id`, empty when it is absent or null.
    pub task_id: &'a str,
    /// The [`COST_FIELDS`], in their order.
    pub costs: [FieldNumber; 4],
    /// The [`PROGRESS_FIELD`].
    pub progress: FieldNumber,
    /// Whether each of the kind's [`EnvelopeReader::required_fields`] is there and not empty.
    pub required: &'a [bool],
}

impl EnvelopeReader {
    /// `kinds` are (CloudEvent type, Avro record name) pairs.
    pub fn new<'k>(kinds: impl IntoIterator<Item = (&'k str, &'k str)>) -> Self {
        let kinds = kinds
            .into_iter()
            .map(|(ce_type, record)| Kind {
                ce_type: ce_type.to_owned(),
                record: record.to_owned(),
                required: REQUIRED_FIELDS.iter().find(|(name, _)| *name == record).map_or(&[], |(_, fields)| fields),
                reader: None,
            })
            .collect();
        EnvelopeReader { kinds, ..Self::default() }
    }

    pub fn kind_of(&self, ce_type: &str) -> Option<usize> {
        self.kinds.iter().position(|k| k.ce_type == ce_type)
    }

    /// The fields a record of `kind` may not leave empty, besides `task_id`.
    pub fn required_fields(&self, kind: usize) -> &'static [&'static str] {
        self.kinds.get(kind).map_or(&[], |k| k.required)
    }

    /// Sets the codec that reads `kind` (its own schema, the reader's side of resolution).
    pub fn set_reader(&mut self, kind: usize, reader: Arc<Codec>) {
        if let Some(slot) = self.kinds.get_mut(kind) {
            slot.reader = Some(reader);
            let ids: Vec<u32> = self.writers.keys().copied().collect();
            for id in ids {
                self.plan(kind, id);
            }
        }
    }

    /// Forgets the codec that reads `kind`: its records are refused until one is set again.
    pub fn clear_reader(&mut self, kind: usize) {
        if let Some(slot) = self.kinds.get_mut(kind) {
            slot.reader = None;
            self.plans.retain(|(k, _), _| *k != kind);
        }
    }

    /// Adds the writer schema registered under `schema_id`, whose root record is `full_name`.
    pub fn add_writer(&mut self, schema_id: u32, full_name: &str, schema: Arc<Schema>) {
        self.writers.insert(schema_id, (full_name.to_owned(), schema));
        for kind in 0..self.kinds.len() {
            self.plan(kind, schema_id);
        }
    }

    pub fn knows(&self, schema_id: u32) -> bool {
        self.writers.contains_key(&schema_id)
    }

    fn plan(&mut self, kind: usize, schema_id: u32) {
        let (Some(slot), Some((name, writer))) = (self.kinds.get(kind), self.writers.get(&schema_id)) else {
            return;
        };
        match &slot.reader {
            Some(reader) if short_name(name) == slot.record => {
                self.plans.insert((kind, schema_id), reader.plan_for(writer));
            }
            _ => {
                self.plans.remove(&(kind, schema_id));
            }
        }
    }

    /// Applies the envelope's rules to one record, in the order the module documentation gives;
    /// with `check_age` false the age limit is left out.
    pub fn prepare<'a>(
        &self,
        headers: Vec<Header<'a>>,
        value: Option<&'a [u8]>,
        key: Option<Cow<'a, [u8]>>,
        limits: Option<&Limits>,
        check_age: bool,
    ) -> Prepared<'a> {
        if let Some(limits) = limits {
            if let Err(error) = check_size(value.map_or(0, <[u8]>::len) as u64, limits.max_bytes) {
                return Prepared::Failed(error);
            }
        }
        let event = match from_kafka_borrowed(headers, value, key) {
            Ok(event) => event,
            Err(error) => return Prepared::Failed(error),
        };
        match self.check(event, limits.filter(|_| check_age)) {
            Ok(found) => self.resume(found),
            Err(error) => Prepared::Failed(error),
        }
    }

    fn check<'a>(&self, event: CloudEvent<'a>, limits: Option<&Limits>) -> Result<Attributes<'a>> {
        let CloudEvent { id, source, ty, time, datacontenttype, extensions, data, .. } = event;
        for (name, value) in [("id", &id), ("source", &source), ("type", &ty)] {
            if value.is_empty() {
                return Err(Error::validation(
                    "",
                    format!("CloudEvent attribute '{name}' is missing (header ce_{name})"),
                ));
            }
        }
        let mut found: [Option<Cow<'a, str>>; 8] = Default::default();
        for (name, ext) in extensions {
            let slot = match &*name {
                "protocol" => 0,
                "sourceagent" => 1,
                "targetagent" => 2,
                "collaborationid" => 3,
                "traceparent" => 4,
                "priority" => 5,
                "ttl" => 6,
                "targetgroup" => 7,
                _ => continue,
            };
            // The Kafka binding carries every attribute as text.
            if let Extension::Str(text) = ext {
                found[slot] = Some(text);
            }
        }
        let [protocol, source_agent, target_agent, collaboration_id, traceparent, priority, ttl, target_group] = found;
        if let Some(limits) = limits {
            let ttl = ttl.as_deref().map_or(Ttl::Absent, Ttl::Text);
            check_age(time.as_deref().map(Sent::Time), ttl, limits.default_ttl, limits.now)?;
        }
        let Some(kind) = self.kind_of(&ty) else {
            return Err(Error::validation("", format!("ce_type {} is not an A2A message type", repr_str(&ty))));
        };
        if protocol.as_deref() != Some(PROTOCOL) {
            return Err(Error::validation(
                "",
                format!("ce_protocol {} is not {PROTOCOL}", repr_optional(protocol.as_deref())),
            ));
        }
        if datacontenttype.as_deref() != Some(CONTENT_TYPE) {
            let found = repr_optional(datacontenttype.as_deref());
            return Err(Error::validation("", format!("content-type {found} is not {CONTENT_TYPE}")));
        }
        let source_agent = match source_agent {
            Some(agent) if !agent.is_empty() => agent,
            _ => {
                let message = "CloudEvent attribute 'sourceagent' is missing (header ce_sourceagent)";
                return Err(Error::validation("", message));
            }
        };
        let data = match data {
            Some(Data::Binary(bytes)) => bytes,
            other => {
                let found = match other {
                    None | Some(Data::Json(Value::Null)) => "NoneType",
                    Some(Data::Json(Value::Bool(_))) => "bool",
                    Some(Data::Json(Value::Int(_) | Value::UInt(_))) => "int",
                    Some(Data::Json(Value::Float(_))) => "float",
                    Some(Data::Json(Value::Str(_))) => "str",
                    Some(Data::Json(Value::Array(_))) => "list",
                    Some(Data::Json(Value::Object(_))) => "dict",
                    Some(Data::Json(Value::Bytes(_)) | Data::Binary(_)) => "bytes",
                };
                return Err(Error::validation("", format!("CloudEvent data is {found}, expected Avro bytes")));
            }
        };
        let (schema_id, _) = parse_wire_header(&data)?;
        Ok(Attributes {
            kind,
            id,
            source_agent,
            target_agent,
            collaboration_id,
            traceparent,
            priority: priority.filter(|p| !p.is_empty()),
            target_group: target_group.filter(|g| !g.is_empty()),
            schema_id,
            data,
            plan: None,
        })
    }

    /// Applies the rules that need the writer schema to a record whose attributes passed: the
    /// schema's record is the one the kind needs, and a reader codec is set for the kind.
    pub fn resume<'a>(&self, mut found: Attributes<'a>) -> Prepared<'a> {
        let Some((name, _)) = self.writers.get(&found.schema_id) else {
            return Prepared::UnknownSchema(found);
        };
        let kind = &self.kinds[found.kind];
        if short_name(name) != kind.record {
            let message = format!(
                "schema id {} is a {name} schema, ce_type {} needs {}",
                found.schema_id, kind.ce_type, kind.record
            );
            return Prepared::Failed(Error::validation("", message));
        }
        match self.plans.get(&(found.kind, found.schema_id)) {
            Some(plan) => {
                found.plan = Some(plan.clone());
                Prepared::Ready(found)
            }
            None => Prepared::NoReader(found.kind),
        }
    }

    /// The rules of a decoded record of `kind`: its key, when there is one, is its `task_id`; the
    /// `task_id` and the kind's required fields are not empty; costs are at least 0 and a
    /// progress is from 0 to 1.
    pub fn check_record(&self, kind: usize, key: Option<&[u8]>, record: &RecordFields<'_>) -> Result<()> {
        let invalid = |message: String| Err(Error::validation("", message));
        if let Some(key) = key {
            if String::from_utf8_lossy(key) != record.task_id {
                let (key, task_id) = (repr_bytes(key), repr_str(record.task_id));
                return invalid(format!("record key {key} differs from field task_id {task_id}"));
            }
        }
        if record.task_id.is_empty() {
            return invalid("field 'task_id' is empty".to_owned());
        }
        for (name, cost) in COST_FIELDS.iter().zip(record.costs) {
            if !matches!(cost, FieldNumber::Absent) && !in_range(cost, 0.0, f64::INFINITY) {
                return invalid(format!("field {} is {}, expected a cost >= 0", repr_str(name), number_str(cost)));
            }
        }
        let progress = record.progress;
        if !matches!(progress, FieldNumber::Absent) && !in_range(progress, 0.0, 1.0) {
            return invalid(format!("field 'progress' is {}, expected 0.0 to 1.0", number_str(progress)));
        }
        for (name, present) in self.required_fields(kind).iter().zip(record.required) {
            if !present {
                return invalid(format!("field {} is empty", repr_str(name)));
            }
        }
        Ok(())
    }
}

fn in_range(number: FieldNumber, low: f64, high: f64) -> bool {
    match number {
        FieldNumber::Int(i) => low <= i as f64 && i as f64 <= high,
        FieldNumber::Float(f) => low <= f && f <= high,
        FieldNumber::Absent | FieldNumber::Other => false,
    }
}

fn number_str(number: FieldNumber) -> String {
    match number {
        FieldNumber::Int(i) => i.to_string(),
        FieldNumber::Float(f) => float_str(f),
        FieldNumber::Absent => "None".to_owned(),
        FieldNumber::Other => "not a number".to_owned(),
    }
}

/// Microseconds since the epoch of an RFC 3339 date-time,
/// `YYYY-MM-DD(T|t)HH:MM:SS[.f+](Z|z|±HH:MM)`, fractions past the microsecond dropped and a leap
/// second counted as a second; None for any other text.
pub fn epoch_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        b.get(from..from + len)?
            .iter()
            .try_fold(0i64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|b| c.contains(b));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut fraction = 0;
    if at(i, b".") {
        let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        fraction = num(i + 1, digits.min(6))? * 10i64.pow(6 - digits.min(6) as u32);
        i += 1 + digits;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3, b":") => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            if *sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset * 60;
    Some(seconds * 1_000_000 + fraction)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// `millis` since the epoch as RFC 3339 UTC text with milliseconds (`2025-01-02T03:04:05.678Z`).
pub fn rfc3339_millis(millis: i64) -> String {
    let (seconds, millis) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rest / 3600, rest / 60 % 60, rest % 60)
}

/// The time now as [`rfc3339_millis`] text.
pub fn now_rfc3339_millis() -> String {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    rfc3339_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// An outgoing record's `task_id`, its key: present and not empty (None for a value that is
/// absent or empty in the caller's terms).
pub fn check_task_id(task_id: Option<&str>) -> Result<()> {
    match task_id {
        Some(text) if !text.is_empty() => Ok(()),
        _ => Err(Error::validation("", "record field 'task_id' is missing or empty")),
    }
}

/// The attributes of an outgoing message that change from one message to the next.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outbound<'a> {
    pub id: &'a str,
    pub target_agent: Option<&'a str>,
    pub collaboration_id: Option<&'a str>,
    pub traceparent: Option<&'a str>,
    pub priority: Option<&'a str>,
    pub ttl: Option<i64>,
    pub partition_key: &'a str,
}

/// The CloudEvents rules for the changing attributes, in the order an event's attributes are read.
pub fn check_outbound(out: &Outbound<'_>) -> Result<()> {
    if out.id.is_empty() {
        return Err(Error::validation("id", "must be a non-empty string"));
    }
    check_string("id", out.id)?;
    for (name, value) in [
        ("targetagent", out.target_agent),
        ("collaborationid", out.collaboration_id),
        ("traceparent", out.traceparent),
        ("priority", out.priority),
    ] {
        if let Some(value) = value {
            check_string(name, value)?;
        }
    }
    if let Some(ttl) = out.ttl {
        if i32::try_from(ttl).is_err() {
            return Err(Error::validation("ttl", "integer extension out of the CloudEvents range"));
        }
    }
    check_string("partitionkey", out.partition_key)
}

#[cfg(test)]
mod tests;
