use super::*;
use crate::avro::{Value, ValueBuilder};

const REQUEST: &str = r#"{"type":"record","name":"TaskRequest","namespace":"a2a.tasks","fields":[
    {"name":"task_id","type":"string"},{"name":"timestamp","type":"long"}]}"#;
const REQUEST_V2: &str = r#"{"type":"record","name":"TaskRequest","namespace":"a2a.tasks","fields":[
    {"name":"task_id","type":"string"},{"name":"note","type":"string","default":"-"},
    {"name":"timestamp","type":"long"}]}"#;
const RESPONSE: &str = r#"{"type":"record","name":"TaskResponse","fields":[{"name":"task_id","type":"string"}]}"#;

fn reader() -> EnvelopeReader {
    let mut reader = EnvelopeReader::new([("a2a.task.request", "TaskRequest"), ("a2a.task.response", "TaskResponse")]);
    reader.set_reader(0, Arc::new(Codec::new(REQUEST_V2, Some(7)).unwrap()));
    reader.add_writer(3, "a2a.tasks.TaskRequest", Arc::new(Schema::parse(REQUEST).unwrap()));
    reader.add_writer(4, "TaskResponse", Arc::new(Schema::parse(RESPONSE).unwrap()));
    reader
}

fn value(schema_id: u32) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(&[6, b't', b'-', b'1', 4]);
    out
}

fn headers(extra: &[(&str, &str)]) -> Vec<Header<'static>> {
    let mut all = vec![
        ("ce_specversion", "1.0"),
        ("ce_id", "e-1"),
        ("ce_source", "a2a://agents/r"),
        ("ce_type", "a2a.task.request"),
        ("ce_time", "2025-01-02T03:04:05.678Z"),
        ("ce_protocol", "A2A"),
        ("ce_sourceagent", "r"),
        ("ce_priority", "HIGH"),
        ("content-type", "application/avro"),
    ];
    for (name, text) in extra {
        all.retain(|(n, _)| n != name);
        if !text.is_empty() || name.starts_with("ce_priority") {
            all.push((name, text));
        }
    }
    all.into_iter().map(|(n, v)| (Cow::Owned(n.to_owned()), Some(Cow::Owned(v.as_bytes().to_vec())))).collect()
}

fn limits(now: f64) -> Limits {
    Limits { max_bytes: 1000, default_ttl: 60.0, now }
}

const SENT: f64 = 1_735_787_045.678;

#[test]
fn a_valid_record_gives_its_attributes_and_a_resolving_plan() {
    let reader = reader();
    let data = value(3);
    let Prepared::Ready(found) = reader.prepare(headers(&[]), Some(&data), Some(Cow::Borrowed(&b"t-1"[..])), None)
    else {
        panic!("not ready");
    };
    assert_eq!((found.kind, &*found.id, &*found.source_agent), (0, "e-1", "r"));
    assert_eq!((found.target_agent, found.priority.as_deref(), found.schema_id), (None, Some("HIGH"), 3));
    let codec = Codec::new(REQUEST_V2, Some(7)).unwrap();
    let decoded = codec.decode(found.data, Some(&found.plan.unwrap()), &mut ValueBuilder).unwrap();
    let Value::Map(fields) = decoded else { panic!("not a record") };
    assert!(fields.contains(&("note".to_owned(), Value::String("-".to_owned()))), "{fields:?}");
}

#[test]
fn each_rule_stops_the_record_where_the_per_record_path_does() {
    let reader = reader();
    let data = value(3);
    fn run<'a>(
        reader: &EnvelopeReader,
        extra: &[(&str, &str)],
        data: &'a [u8],
        limits: Option<&Limits>,
    ) -> Prepared<'a> {
        reader.prepare(headers(extra), Some(data), None, limits)
    }
    let young = limits(SENT + 1.0);
    assert!(matches!(run(&reader, &[], &data, Some(&young)), Prepared::Ready(_)));
    let tiny = Limits { max_bytes: 9, ..young };
    assert!(matches!(run(&reader, &[], &data, Some(&tiny)), Prepared::Refused(Refusal::TooLarge)));
    assert!(matches!(run(&reader, &[], &data, Some(&limits(SENT + 61.0))), Prepared::Refused(Refusal::Age)));
    let own_ttl = [("ce_ttl", "90")];
    assert!(matches!(run(&reader, &own_ttl, &data, Some(&limits(SENT + 61.0))), Prepared::Ready(_)));
    let forever = [("ce_ttl", "0")];
    assert!(matches!(run(&reader, &forever, &data, Some(&limits(SENT + 1e9))), Prepared::Ready(_)));
    let odd_ttl = [("ce_ttl", "1e3")];
    assert!(matches!(run(&reader, &odd_ttl, &data, Some(&young)), Prepared::Refused(Refusal::Age)));
    // an expired record with a bad body is refused for its age first, as the per-record path does
    assert!(matches!(run(&reader, &[], b"\x01", Some(&limits(SENT + 61.0))), Prepared::Refused(Refusal::Age)));
    assert!(matches!(run(&reader, &[("ce_id", "")], &data, None), Prepared::Failed(Error::Validation { .. })));
    for extra in [[("ce_type", "other")], [("ce_protocol", "B2B")], [("ce_sourceagent", "")], [("content-type", "x/y")]]
    {
        assert!(matches!(run(&reader, &extra, &data, None), Prepared::Refused(Refusal::NotA2a)), "{extra:?}");
    }
    assert!(matches!(run(&reader, &[], b"\x01\x00", None), Prepared::Failed(Error::Decode { offset: 0, .. })));
    assert!(matches!(run(&reader, &[], &value(99), None), Prepared::UnknownSchema(99)));
    assert!(matches!(run(&reader, &[], &value(4), None), Prepared::Refused(Refusal::WrongRecord)));
    let response = value(4);
    let without_reader = run(&reader, &[("ce_type", "a2a.task.response")], &response, None);
    assert!(matches!(without_reader, Prepared::Refused(Refusal::NoReader)), "{without_reader:?}");
    assert_eq!(run(&reader, &[("ce_priority", "")], &data, None).ready().priority, None);
}

impl<'a> Prepared<'a> {
    fn ready(self) -> Attributes<'a> {
        match self {
            Prepared::Ready(found) => found,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn ages_follow_python_timestamps() {
    assert_eq!(epoch_micros("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(epoch_micros("2025-01-02T03:04:05.1Z"), Some(1_735_787_045_100_000));
    assert_eq!(epoch_micros("2025-01-02T03:04:05+01:00"), Some(1_735_783_445_000_000));
    assert_eq!(epoch_micros("2024-02-29T23:59:59.123456-08:30"), Some(1_709_281_799_123_456));
    for unusual in
        ["2025-01-02t03:04:05z", "2025-01-02T03:04:60Z", "2025-01-02T03:04:05.1234567Z", "0000-01-01T00:00:00Z"]
    {
        assert_eq!(epoch_micros(unusual), None, "{unusual}");
    }
    let at = |now| limits(now);
    assert_eq!(expired(&at(SENT + 60.0), "2025-01-02T03:04:05.678Z", None), Some(false));
    assert_eq!(expired(&at(SENT + 60.5), "2025-01-02T03:04:05.678Z", Some("")), Some(true));
    assert_eq!(expired(&at(SENT + 60.5), "2025-01-02T03:04:05.678Z", Some(" 5")), None);
}

#[test]
fn times_are_written_with_milliseconds() {
    assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_millis(1_735_787_045_678), "2025-01-02T03:04:05.678Z");
    assert_eq!(rfc3339_millis(951_782_400_001), "2000-02-29T00:00:00.001Z");
    for millis in [0, 1, 86_399_999, 951_782_400_001, 4_102_444_800_000, 1_709_281_799_123] {
        assert_eq!(epoch_micros(&rfc3339_millis(millis)), Some(millis * 1000));
    }
    assert_eq!(now_rfc3339_millis().len(), 24);
}

#[test]
fn outbound_attributes_are_checked_by_the_cloudevents_rules() {
    let ok = Outbound { id: "e", partition_key: "t", priority: Some(""), ttl: Some(30), ..Outbound::default() };
    assert_eq!(check_outbound(&ok), Ok(()));
    let named = |out: Outbound<'_>| match check_outbound(&out) {
        Err(Error::Validation { path, .. }) => path,
        other => panic!("{other:?}"),
    };
    assert_eq!(named(Outbound { id: "", ..ok }), "id");
    assert_eq!(named(Outbound { target_agent: Some("a\u{1}"), ..ok }), "targetagent");
    assert_eq!(named(Outbound { ttl: Some(1 << 31), ..ok }), "ttl");
    assert_eq!(named(Outbound { partition_key: "\u{7f}", ..ok }), "partitionkey");
}
