//! The CloudEvents Kafka protocol binding: binary content mode out, binary or structured mode in.

use std::borrow::Cow;

use crate::error::{Error, Result};

use super::event::{is_json_media_type, CloudEvent, Data, Extension};
use super::value::{parse, write_value, Value};

pub const CONTENT_TYPE: &str = "content-type";
const PARTITION_KEY: &str = "partitionkey";
/// Used when an event with binary data has no `datacontenttype`: without a header the receiver
/// would have to assume JSON (JSON format 3.1.2) and could not read the bytes back.
const OCTET_STREAM: &str = "application/octet-stream";

/// A Kafka record in binary content mode.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaRecord {
    /// The `partitionkey` extension, if the event has one (binding 3.1).
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// `None` when the event has no data: a tombstone, as binding 3.2.2 says.
    pub value: Option<Vec<u8>>,
}

fn header(name: &str, value: &str) -> (String, Vec<u8>) {
    let mut key = String::with_capacity(3 + name.len());
    key.push_str("ce_");
    key.push_str(name);
    (key, value.as_bytes().to_vec())
}

/// Maps an event to a binary-mode record: attributes become `ce_*` headers, `datacontenttype`
/// becomes `content-type`, and the data goes into the value as-is (JSON data as JSON text).
pub fn to_kafka(event: &CloudEvent) -> Result<KafkaRecord> {
    let mut headers = Vec::with_capacity(6 + event.extensions.len());
    headers.push(header("specversion", "1.0"));
    headers.push(header("id", &event.id));
    headers.push(header("source", &event.source));
    headers.push(header("type", &event.ty));
    for (name, value) in [("time", &event.time), ("dataschema", &event.dataschema), ("subject", &event.subject)] {
        if let Some(value) = value {
            headers.push(header(name, value));
        }
    }
    let mut key = None;
    for (name, ext) in &event.extensions {
        let mut text = Vec::new();
        ext.write_text(&mut text);
        if name == PARTITION_KEY {
            key = Some(text.clone());
        }
        headers.push((format!("ce_{name}"), text));
    }
    let (content_type, value) = match &event.data {
        None => (event.datacontenttype.as_deref(), None),
        Some(Data::Binary(bytes)) => {
            (Some(event.datacontenttype.as_deref().unwrap_or(OCTET_STREAM)), Some(bytes.to_vec()))
        }
        Some(Data::Json(Value::Str(text))) if !event.data_is_json() => {
            (event.datacontenttype.as_deref(), Some(text.as_bytes().to_vec()))
        }
        Some(Data::Json(value)) => {
            let mut out = Vec::with_capacity(128);
            write_value(&mut out, value, "data")?;
            // JSON format 3.1.2: the implied application/json is made explicit in another binding.
            (Some(event.datacontenttype.as_deref().unwrap_or("application/json")), Some(out))
        }
    };
    if let Some(content_type) = content_type {
        headers.push((CONTENT_TYPE.to_owned(), content_type.as_bytes().to_vec()));
    }
    Ok(KafkaRecord { key, headers, value })
}

fn utf8(name: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        Error::validation(name, format!("header value is not UTF-8 (byte {})", e.utf8_error().valid_up_to()))
    })
}

fn utf8_cow<'a>(name: &str, bytes: Cow<'a, [u8]>) -> Result<Cow<'a, str>> {
    match bytes {
        Cow::Borrowed(b) => std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|e| Error::validation(name, format!("header value is not UTF-8 (byte {})", e.valid_up_to()))),
        Cow::Owned(b) => utf8(name, b).map(Cow::Owned),
    }
}

/// A header name in lower case, borrowed when it already is.
fn lowercase(name: Cow<'_, str>) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        name
    }
}

/// A header that may borrow its name and value from the caller's record.
pub type Header<'a> = (Cow<'a, str>, Option<Cow<'a, [u8]>>);

/// Reads a record in either content mode. `headers` are as the client gives them (a header may
/// have no value); `key`, when given, becomes the `partitionkey` extension unless a header sets it,
/// as the official SDKs do, so a keyed record written without the header keeps its key.
pub fn from_kafka<'a>(
    headers: Vec<(String, Option<Vec<u8>>)>,
    value: Option<&'a [u8]>,
    key: Option<Vec<u8>>,
) -> Result<CloudEvent<'a>> {
    let headers = headers.into_iter().map(|(name, raw)| (Cow::Owned(name), raw.map(Cow::Owned))).collect();
    from_kafka_borrowed(headers, value, key.map(Cow::Owned))
}

/// [`from_kafka`] over headers and key that may be borrowed: the event borrows what it can from them.
pub fn from_kafka_borrowed<'a>(
    headers: Vec<Header<'a>>,
    value: Option<&'a [u8]>,
    key: Option<Cow<'a, [u8]>>,
) -> Result<CloudEvent<'a>> {
    let mut content_type = None;
    let mut attributes: Vec<(Cow<'a, str>, Value<'a>)> = Vec::with_capacity(headers.len() + 1);
    for (name, raw) in headers {
        let lower = lowercase(name.clone());
        if lower == CONTENT_TYPE {
            if content_type.is_some() {
                return Err(Error::validation(CONTENT_TYPE, "duplicate header"));
            }
            let raw = raw.ok_or_else(|| Error::validation(CONTENT_TYPE, "header has no value"))?;
            content_type = Some(utf8_cow(CONTENT_TYPE, raw)?);
        } else if lower.starts_with("ce_") {
            let attribute: Cow<'a, str> = match lower {
                Cow::Borrowed(text) => Cow::Borrowed(&text[3..]),
                Cow::Owned(text) => Cow::Owned(text[3..].to_owned()),
            };
            if matches!(&*attribute, "data" | "data_base64") {
                return Err(Error::validation(name, "data is carried in the record value, not a header"));
            }
            let raw = raw.ok_or_else(|| Error::validation(&*attribute, format!("header {name} has no value")))?;
            let text = utf8_cow(&attribute, raw)?;
            attributes.push((attribute, Value::Str(text)));
        }
    }
    if let Some(ct) = &content_type {
        let essence = ct.split(';').next().unwrap_or("").trim();
        let is_structured = essence.eq_ignore_ascii_case("application/cloudevents+json");
        let is_event_format =
            essence.len() >= 23 && essence.as_bytes()[..23].eq_ignore_ascii_case(b"application/cloudevents");
        // Binding 3: an event format we cannot read MAY still be taken as binary mode, which
        // only makes sense when the attributes are in the headers.
        if is_event_format && !is_structured && !attributes.iter().any(|(n, _)| n == "specversion") {
            return Err(Error::validation(CONTENT_TYPE, format!("unsupported event format {essence:?}")));
        }
        if is_structured {
            let value = value.ok_or_else(|| Error::validation("value", "structured record without a value"))?;
            let mut event = CloudEvent::from_json(value)?;
            if let Some(key) = key {
                if event.extension(PARTITION_KEY).is_none() {
                    event.extensions.push((PARTITION_KEY.into(), Extension::Str(utf8_cow(PARTITION_KEY, key)?)));
                }
            }
            return Ok(event);
        }
    }
    if let Some(key) = key {
        if !attributes.iter().any(|(n, _)| n == PARTITION_KEY) {
            attributes.push((PARTITION_KEY.into(), Value::Str(utf8_cow(PARTITION_KEY, key)?)));
        }
    }
    if let Some(value) = value {
        let data = match content_type.as_deref() {
            None => parse(value)?,
            Some(ct) if is_json_media_type(ct) => parse(value)?,
            Some(_) => Value::Bytes(Cow::Borrowed(value)),
        };
        attributes.push(("data".into(), data));
    }
    if let Some(ct) = content_type {
        attributes.push(("datacontenttype".into(), Value::Str(ct)));
    }
    CloudEvent::from_attributes(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(extra: &[(&'static str, Value<'static>)]) -> CloudEvent<'static> {
        let mut attrs: Vec<(Cow<'static, str>, Value<'static>)> =
            [("specversion", "1.0"), ("id", "1"), ("source", "/s"), ("type", "t")]
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), Value::Str(Cow::Borrowed(*v))))
                .collect();
        attrs.extend(extra.iter().map(|(k, v)| (Cow::Borrowed(*k), v.clone())));
        CloudEvent::from_attributes(attrs).expect("valid")
    }

    fn headers_of(record: &KafkaRecord) -> Vec<(String, Option<Vec<u8>>)> {
        record.headers.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect()
    }

    #[test]
    fn binary_mode_maps_attributes_to_headers() {
        let ev = event(&[
            ("partitionkey", Value::Str("k1".into())),
            ("ttl", Value::Int(30)),
            ("datacontenttype", Value::Str("application/json".into())),
            ("data", Value::Object(vec![("a".into(), Value::Int(1))])),
        ]);
        let record = to_kafka(&ev).expect("maps");
        assert_eq!(record.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(record.value.as_deref(), Some(&br#"{"a":1}"#[..]));
        assert!(record.headers.contains(&("ce_ttl".to_owned(), b"30".to_vec())));
        assert!(record.headers.contains(&("content-type".to_owned(), b"application/json".to_vec())));
        let back = from_kafka(headers_of(&record), record.value.as_deref(), record.key.clone()).expect("reads");
        assert_eq!(back.extension("ttl"), Some(&Extension::Str("30".into())));
        assert_eq!(back.data, ev.data);
    }

    #[test]
    fn no_data_is_a_tombstone_and_binary_data_is_as_is() {
        let record = to_kafka(&event(&[])).expect("maps");
        assert_eq!(record.value, None);
        let ev = event(&[("data", Value::Bytes(vec![0, 159].into()))]);
        let record = to_kafka(&ev).expect("maps");
        assert_eq!(record.value.as_deref(), Some(&[0u8, 159][..]));
        let back = from_kafka(headers_of(&record), record.value.as_deref(), None).expect("reads");
        assert_eq!(back.data, ev.data);
        assert_eq!(back.datacontenttype.as_deref(), Some(OCTET_STREAM));
    }

    #[test]
    fn key_becomes_partitionkey_and_structured_mode_is_detected() {
        let headers = vec![
            ("ce_specversion".to_owned(), Some(b"1.0".to_vec())),
            ("ce_id".to_owned(), Some(b"1".to_vec())),
            ("ce_source".to_owned(), Some(b"/s".to_vec())),
            ("ce_type".to_owned(), Some(b"t".to_vec())),
        ];
        let ev = from_kafka(headers, None, Some(b"key".to_vec())).expect("reads");
        assert_eq!(ev.extension("partitionkey"), Some(&Extension::Str("key".into())));
        let structured =
            vec![("Content-Type".to_owned(), Some(b"application/cloudevents+json; charset=UTF-8".to_vec()))];
        let value = br#"{"specversion":"1.0","id":"9","source":"/s","type":"t","data":[1]}"#;
        let ev = from_kafka(structured, Some(value), None).expect("reads");
        assert_eq!(ev.id, "9");
        let avro = vec![("content-type".to_owned(), Some(b"application/cloudevents+avro".to_vec()))];
        let mut binary_avro = avro.clone();
        for (name, value) in [("ce_specversion", "1.0"), ("ce_id", "1"), ("ce_source", "s"), ("ce_type", "t")] {
            binary_avro.push((name.to_owned(), Some(value.as_bytes().to_vec())));
        }
        let ev = from_kafka(binary_avro, Some(b"\x00"), None).expect("binary mode, unread format");
        assert_eq!(ev.data, Some(Data::Binary(vec![0].into())));
        assert!(
            matches!(from_kafka(avro, Some(b"x"), None), Err(Error::Validation { path, .. }) if path == "content-type")
        );
    }

    #[test]
    fn bad_headers_are_named() {
        let headers = vec![("ce_id".to_owned(), Some(vec![0xff]))];
        assert!(matches!(from_kafka(headers, None, None), Err(Error::Validation { path, .. }) if path == "id"));
        let headers = vec![("ce_Bad_Name".to_owned(), Some(b"x".to_vec()))];
        assert!(matches!(from_kafka(headers, None, None), Err(Error::Validation { .. })));
        let json = vec![("content-type".to_owned(), Some(b"application/json".to_vec()))];
        assert!(matches!(from_kafka(json, Some(b"{"), None), Err(Error::Decode { offset: 1, .. })));
    }
}
