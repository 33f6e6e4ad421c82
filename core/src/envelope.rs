//! The A2A envelope of a Kafka record: a CloudEvent in binary content mode whose value is a
//! Confluent-framed Avro record of one of a few message kinds.
//!
//! [`EnvelopeReader::prepare`] applies to one consumed record, in the order the Python
//! `Envelope.decode` does, every rule up to the Avro body: size limit, the CloudEvents binding, age
//! limit, A2A attributes, wire header, the writer schema and its record name. It hands back the
//! attributes the runtime needs and the resolution plan for the body, or says which rule stopped it.
//! [`check_outbound`] applies the CloudEvents rules to the attributes that change from one outgoing
//! message to the next; the rest of an outgoing record is constant per kind and checked once.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::avro::{parse_wire_header, Codec, Plan, Schema};
use crate::cloudevents::event::{check_string, Extension};
use crate::cloudevents::kafka::{from_kafka_borrowed, Header};
use crate::cloudevents::{CloudEvent, Data};
use crate::error::{Error, Result};

pub const PROTOCOL: &str = "A2A";
pub const CONTENT_TYPE: &str = "application/avro";

/// Limits of the mesh's protocol config, with the moment to measure ages from (epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_bytes: u64,
    pub default_ttl: f64,
    pub now: f64,
}

/// A rule whose failure the caller reports in its own words (the per-record path's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooLarge,
    /// Older than its ttl, or an age this reader does not compute itself (an unusual `time` or `ttl`).
    Age,
    /// Not an A2A message: type, protocol, content type, source agent or data.
    NotA2a,
    /// The writer schema's record is not the one the type needs.
    WrongRecord,
    /// No reader codec was set for the type.
    NoReader,
}

/// What [`EnvelopeReader::prepare`] found.
#[derive(Debug)]
pub enum Prepared<'a> {
    Ready(Attributes<'a>),
    /// A core error: the message is the one the per-record path gives.
    Failed(Error),
    Refused(Refusal),
    /// The writer schema id is not known to this reader yet.
    UnknownSchema(u32),
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
    pub schema_id: u32,
    pub data: &'a [u8],
    pub plan: std::result::Result<Arc<Plan>, Error>,
}

struct Kind {
    ce_type: String,
    record: String,
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

impl EnvelopeReader {
    /// `kinds` are (CloudEvent type, Avro record name) pairs.
    pub fn new<'k>(kinds: impl IntoIterator<Item = (&'k str, &'k str)>) -> Self {
        let kinds = kinds
            .into_iter()
            .map(|(ce_type, record)| Kind { ce_type: ce_type.to_owned(), record: record.to_owned(), reader: None })
            .collect();
        EnvelopeReader { kinds, ..Self::default() }
    }

    pub fn kind_of(&self, ce_type: &str) -> Option<usize> {
        self.kinds.iter().position(|k| k.ce_type == ce_type)
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

    /// Applies the envelope's rules to one record, as the per-record path orders them.
    pub fn prepare<'a>(
        &self,
        headers: Vec<Header<'a>>,
        value: Option<&'a [u8]>,
        key: Option<Cow<'a, [u8]>>,
        limits: Option<&Limits>,
    ) -> Prepared<'a> {
        if let Some(limits) = limits {
            if value.map_or(0, <[u8]>::len) as u64 > limits.max_bytes {
                return Prepared::Refused(Refusal::TooLarge);
            }
        }
        let event = match from_kafka_borrowed(headers, value, key) {
            Ok(event) => event,
            Err(error) => return Prepared::Failed(error),
        };
        self.check(event, limits)
    }

    fn check<'a>(&self, event: CloudEvent<'a>, limits: Option<&Limits>) -> Prepared<'a> {
        let CloudEvent { id, ty, time, datacontenttype, extensions, data, .. } = event;
        let mut found: [Option<Cow<'a, str>>; 7] = Default::default();
        for (name, ext) in extensions {
            let slot = match &*name {
                "protocol" => 0,
                "sourceagent" => 1,
                "targetagent" => 2,
                "collaborationid" => 3,
                "traceparent" => 4,
                "priority" => 5,
                "ttl" => 6,
                _ => continue,
            };
            // headers always carry strings; anything else is not a record this reader wrote
            let Extension::Str(text) = ext else {
                return Prepared::Refused(Refusal::NotA2a);
            };
            found[slot] = Some(text);
        }
        let [protocol, source_agent, target_agent, collaboration_id, traceparent, priority, ttl] = found;
        if let Some(limits) = limits {
            if let Some(time) = &time {
                match expired(limits, time, ttl.as_deref()) {
                    Some(false) => {}
                    _ => return Prepared::Refused(Refusal::Age),
                }
            }
        }
        let Some(kind) = self.kind_of(&ty) else {
            return Prepared::Refused(Refusal::NotA2a);
        };
        let source_agent = match source_agent {
            Some(agent) if !agent.is_empty() => agent,
            _ => return Prepared::Refused(Refusal::NotA2a),
        };
        if protocol.as_deref() != Some(PROTOCOL) || datacontenttype.as_deref() != Some(CONTENT_TYPE) {
            return Prepared::Refused(Refusal::NotA2a);
        }
        let data: &'a [u8] = match data {
            Some(Data::Binary(std::borrow::Cow::Borrowed(bytes))) => bytes,
            _ => return Prepared::Refused(Refusal::NotA2a),
        };
        let schema_id = match parse_wire_header(data) {
            Ok((schema_id, _)) => schema_id,
            Err(error) => return Prepared::Failed(error),
        };
        let Some((name, _)) = self.writers.get(&schema_id) else {
            return Prepared::UnknownSchema(schema_id);
        };
        if short_name(name) != self.kinds[kind].record {
            return Prepared::Refused(Refusal::WrongRecord);
        }
        let Some(plan) = self.plans.get(&(kind, schema_id)).cloned() else {
            return Prepared::Refused(Refusal::NoReader);
        };
        Prepared::Ready(Attributes {
            kind,
            id,
            source_agent,
            target_agent,
            collaboration_id,
            traceparent,
            priority: priority.filter(|p| !p.is_empty()),
            schema_id,
            data,
            plan,
        })
    }
}

/// Whether a message sent at `time` (RFC 3339) with header `ttl` is older than its limit; None when
/// the text is not in the plain form this reader computes (the caller's own rule decides then).
pub fn expired(limits: &Limits, time: &str, ttl: Option<&str>) -> Option<bool> {
    let limit = match ttl {
        None | Some("") => limits.default_ttl,
        Some(text) if !text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit()) => {
            let seconds: u32 = text.parse().ok()?;
            if seconds == 0 {
                return Some(false);
            }
            f64::from(seconds)
        }
        Some(_) => return None,
    };
    let micros = epoch_micros(time)?;
    // as Python's datetime.timestamp(): whole microseconds divided once, which is exact below 2**53
    let sent = micros as f64 / 1e6;
    Some(limits.now - sent > limit)
}

/// Microseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`, or None for any other form.
pub fn epoch_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        b.get(from..from + len)?
            .iter()
            .try_fold(0i64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut fraction = 0;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        fraction = num(i + 1, digits)? * 10i64.pow(6 - digits as u32);
        i += 1 + digits;
    }
    let offset = match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3, b':') => {
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
