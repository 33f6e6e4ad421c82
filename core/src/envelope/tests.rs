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

impl<'a> Prepared<'a> {
    fn ready(self) -> Attributes<'a> {
        match self {
            Prepared::Ready(found) => found,
            other => panic!("{other:?}"),
        }
    }
}

fn limits(now: f64) -> Limits {
    Limits { max_bytes: 1000, default_ttl: 60.0, now }
}

const SENT: f64 = 1_735_787_045.678;

#[test]
fn a_valid_record_gives_its_attributes_and_a_resolving_plan() {
    let reader = reader();
    let data = value(3);
    let extra = [("ce_targetgroup", "providers.x"), ("ce_targetagent", "p")];
    let found = reader.prepare(headers(&extra), Some(&data), Some(Cow::Borrowed(&b"t-1"[..])), None, true).ready();
    assert_eq!((found.kind, &*found.id, &*found.source_agent), (0, "e-1", "r"));
    assert_eq!(
        (found.target_agent.as_deref(), found.priority.as_deref(), found.schema_id),
        (Some("p"), Some("HIGH"), 3)
    );
    assert_eq!(found.target_group.as_deref(), Some("providers.x"));
    let codec = Codec::new(REQUEST_V2, Some(7)).unwrap();
    let decoded = codec.decode(&found.data, Some(&found.plan.unwrap().unwrap()), &mut ValueBuilder).unwrap();
    let Value::Map(fields) = decoded else { panic!("not a record") };
    assert!(fields.contains(&("note".to_owned(), Value::String("-".to_owned()))), "{fields:?}");
    let empty = [("ce_targetgroup", ""), ("ce_priority", "")];
    let found = reader.prepare(headers(&empty), Some(&data), None, None, true).ready();
    assert_eq!((found.target_group, found.priority), (None, None));
}

fn run<'a>(reader: &EnvelopeReader, extra: &[(&str, &str)], data: &'a [u8], limits: Option<&Limits>) -> Prepared<'a> {
    reader.prepare(headers(extra), Some(data), None, limits, true)
}

/// The message of the error the record gives.
fn failure(prepared: Prepared<'_>) -> String {
    match prepared {
        Prepared::Failed(error) => error.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_rule_stops_the_record_in_order_with_its_own_words() {
    let reader = reader();
    let data = value(3);
    let young = limits(SENT + 1.0);
    assert!(matches!(run(&reader, &[], &data, Some(&young)), Prepared::Ready(_)));
    let tiny = Limits { max_bytes: 9, ..young };
    let too_large = run(&reader, &[], &data, Some(&tiny));
    assert!(matches!(&too_large, Prepared::Failed(Error::Limit { limit: Limit::TooLarge, .. })), "{too_large:?}");
    assert_eq!(failure(too_large), "message is 10 bytes, more than messages.max_message_bytes=9");
    let old = run(&reader, &[], &data, Some(&limits(SENT + 61.0)));
    assert!(matches!(&old, Prepared::Failed(Error::Limit { limit: Limit::Expired, .. })), "{old:?}");
    assert_eq!(failure(old), "message expired: sent 61.0s ago, messages.default_ttl_seconds is 60s");
    assert!(matches!(run(&reader, &[("ce_ttl", "90")], &data, Some(&limits(SENT + 61.0))), Prepared::Ready(_)));
    assert!(matches!(run(&reader, &[("ce_ttl", "0")], &data, Some(&limits(SENT + 1e9))), Prepared::Ready(_)));
    let odd = run(&reader, &[("ce_ttl", "1e1")], &data, Some(&limits(SENT + 10.5)));
    assert_eq!(failure(odd), "message expired: sent 10.5s ago, its ttl is 10s");
    assert_eq!(
        failure(run(&reader, &[("ce_ttl", "soon")], &data, Some(&young))),
        "ttl: 'soon' is not a number of seconds"
    );
    // without the age check, the age is not measured at all
    let unchecked = reader.prepare(headers(&[("ce_ttl", "soon")]), Some(&data), None, Some(&young), false);
    assert!(matches!(unchecked, Prepared::Ready(_)));
    // an expired record with a bad body is refused for its age first
    assert!(failure(run(&reader, &[], b"\x01", Some(&limits(SENT + 61.0)))).starts_with("message expired"));
    assert_eq!(failure(run(&reader, &[("ce_id", "")], &data, None)), "id: required attribute is missing");
    for (extra, message) in [
        (("ce_type", "other"), "ce_type 'other' is not an A2A message type"),
        (("ce_type", "it's"), "ce_type \"it's\" is not an A2A message type"),
        (("ce_protocol", "B2B"), "ce_protocol 'B2B' is not A2A"),
        (("ce_protocol", ""), "ce_protocol None is not A2A"),
        (("content-type", "x/y"), "content-type 'x/y' is not application/avro"),
        (("content-type", "text/plain"), "content-type 'text/plain' is not application/avro"),
        (("ce_sourceagent", ""), "CloudEvent attribute 'sourceagent' is missing (header ce_sourceagent)"),
    ] {
        assert_eq!(failure(run(&reader, &[extra], &data, None)), message, "{extra:?}");
    }
    let no_value = reader.prepare(headers(&[]), None, None, None, true);
    assert_eq!(failure(no_value), "CloudEvent data is NoneType, expected Avro bytes");
    let bad_header = run(&reader, &[], b"\x01\x00", None);
    assert!(matches!(bad_header, Prepared::Failed(Error::Decode { offset: 0, .. })), "{bad_header:?}");
    let unknown = value(99);
    let Prepared::UnknownSchema(waiting) = run(&reader, &[], &unknown, None) else { panic!("known") };
    assert_eq!(waiting.schema_id, 99);
    let wrong = failure(run(&reader, &[], &value(4), None));
    assert_eq!(wrong, "schema id 4 is a TaskResponse schema, ce_type a2a.task.request needs TaskRequest");
    let response = value(4);
    let without_reader = run(&reader, &[("ce_type", "a2a.task.response")], &response, None);
    assert!(matches!(without_reader, Prepared::NoReader(1)), "{without_reader:?}");
}

#[test]
fn a_record_waiting_for_its_writer_schema_resumes_where_it_stopped() {
    let mut reader = reader();
    let data = value(5);
    let Prepared::UnknownSchema(waiting) = run(&reader, &[], &data, None) else { panic!("known") };
    reader.add_writer(5, "other.TaskRequest", Arc::new(Schema::parse(REQUEST).unwrap()));
    let found = reader.resume(waiting).ready();
    assert_eq!((found.schema_id, &*found.id), (5, "e-1"));
    assert!(found.plan.is_some_and(|plan| plan.is_ok()));
    reader.clear_reader(0);
    assert!(matches!(run(&reader, &[], &data, None), Prepared::NoReader(0)));
    assert_eq!(Error::UnknownSchema { schema_id: 7 }.to_string(), "schema id 7 is unknown to the registry");
}

#[test]
fn record_rules_name_the_field_at_fault() {
    let reader = reader();
    let record = RecordFields {
        task_id: "t-1",
        costs: [FieldNumber::Float(1.5), FieldNumber::Absent, FieldNumber::Int(0), FieldNumber::Absent],
        progress: FieldNumber::Float(1.0),
        required: &[true],
    };
    assert_eq!(reader.required_fields(0), ["capability"]);
    assert_eq!(reader.required_fields(1), [] as [&str; 0]);
    assert_eq!(reader.check_record(0, Some(b"t-1"), &record), Ok(()));
    assert_eq!(reader.check_record(0, None, &record), Ok(()));
    let message = |key: Option<&[u8]>, record: RecordFields<'_>| match reader.check_record(0, key, &record) {
        Err(error @ Error::Validation { .. }) => error.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(message(Some(b"t-2"), record), "record key b't-2' differs from field task_id 't-1'");
    assert_eq!(message(Some(b"\xff'"), record), "record key b\"\\xff'\" differs from field task_id 't-1'");
    assert_eq!(
        message(Some(b"t-1"), RecordFields { task_id: "", ..record }),
        "record key b't-1' differs from field task_id ''"
    );
    assert_eq!(message(None, RecordFields { task_id: "", ..record }), "field 'task_id' is empty");
    let mut costs = record.costs;
    for (cost, shown) in
        [(FieldNumber::Float(-1.0), "-1.0"), (FieldNumber::Float(f64::NAN), "nan"), (FieldNumber::Int(-2), "-2")]
    {
        costs[1] = cost;
        let expected = format!("field 'counter_offer' is {shown}, expected a cost >= 0");
        assert_eq!(message(None, RecordFields { costs, ..record }), expected);
    }
    for (progress, shown) in
        [(FieldNumber::Float(1.5), "1.5"), (FieldNumber::Float(-1e-05), "-1e-05"), (FieldNumber::Int(2), "2")]
    {
        let expected = format!("field 'progress' is {shown}, expected 0.0 to 1.0");
        assert_eq!(message(None, RecordFields { progress, ..record }), expected);
    }
    assert_eq!(message(None, RecordFields { required: &[false], ..record }), "field 'capability' is empty");
    // the key is checked first, then task_id, costs in their order, progress, and required fields
    let all_wrong =
        RecordFields { task_id: "", costs: [FieldNumber::Other; 4], progress: FieldNumber::Other, required: &[false] };
    assert!(message(Some(b"x"), all_wrong).starts_with("record key"));
    assert_eq!(message(None, all_wrong), "field 'task_id' is empty");
    let costs_wrong = RecordFields { task_id: "t", ..all_wrong };
    assert_eq!(message(None, costs_wrong), "field 'proposed_cost' is not a number, expected a cost >= 0");
    let progress_wrong = RecordFields { costs: [FieldNumber::Absent; 4], ..costs_wrong };
    assert_eq!(message(None, progress_wrong), "field 'progress' is not a number, expected 0.0 to 1.0");
}

#[test]
fn ages_follow_the_timestamp_in_seconds() {
    assert_eq!(epoch_micros("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(epoch_micros("2025-01-02T03:04:05.1Z"), Some(1_735_787_045_100_000));
    assert_eq!(epoch_micros("2025-01-02T03:04:05+01:00"), Some(1_735_783_445_000_000));
    assert_eq!(epoch_micros("2024-02-29T23:59:59.123456-08:30"), Some(1_709_281_799_123_456));
    assert_eq!(epoch_micros("2025-01-02t03:04:05.1234567z"), Some(1_735_787_045_123_456));
    assert_eq!(epoch_micros("2016-12-31T23:59:60Z"), epoch_micros("2017-01-01T00:00:00Z"));
    assert_eq!(epoch_micros("0000-03-01T00:00:00Z"), Some(-62_162_035_200_000_000));
    for bad in
        ["2025-02-30T03:04:05Z", "2025-01-02T03:04:05", "2025-01-02 03:04:05Z", "2025-01-02T03:04:05.Z", "yesterday"]
    {
        assert_eq!(epoch_micros(bad), None, "{bad}");
    }
    let age =
        |sent: Option<Sent<'_>>, ttl: Ttl<'_>, now: f64| check_age(sent, ttl, 60.0, now).map_err(|e| e.to_string());
    let sent = Some(Sent::Time("2025-01-02T03:04:05.678Z"));
    assert_eq!(age(sent, Ttl::Absent, SENT + 60.0), Ok(()));
    let expired = Err("message expired: sent 60.5s ago, messages.default_ttl_seconds is 60s".to_owned());
    assert_eq!(age(sent, Ttl::Text(""), SENT + 60.5), expired);
    assert_eq!(age(sent, Ttl::Text(" 1_0.5 "), SENT + 10.0), Ok(()));
    assert_eq!(
        age(sent, Ttl::Text("+1e1"), SENT + 10.5),
        Err("message expired: sent 10.5s ago, its ttl is 10s".to_owned())
    );
    assert_eq!(
        age(sent, Ttl::Text("1e6"), SENT + 2e6),
        Err("message expired: sent 2000000.0s ago, its ttl is 1e+06s".to_owned())
    );
    assert_eq!(age(sent, Ttl::Text("nan"), SENT + 1e9), Ok(()));
    assert_eq!(age(sent, Ttl::Text("-inf"), SENT), Err("message expired: sent 0.0s ago, its ttl is -infs".to_owned()));
    assert_eq!(
        age(Some(Sent::Epoch(SENT - 11.0)), Ttl::Seconds(10.0), SENT),
        Err("message expired: sent 11.0s ago, its ttl is 10s".to_owned())
    );
    let default_zero = check_age(sent, Ttl::Absent, 0.0, SENT + 0.5).map_err(|e| e.to_string());
    assert_eq!(default_zero, Err("message expired: sent 0.5s ago, messages.default_ttl_seconds is 0s".to_owned()));
    assert_eq!(check_age(sent, Ttl::Seconds(0.0), 0.0, SENT + 0.5), Ok(()));
    assert_eq!(age(None, Ttl::Text("soon"), SENT), Ok(()));
    assert_eq!(age(Some(Sent::Time("")), Ttl::Text("1"), SENT), Ok(()));
    assert_eq!(age(Some(Sent::Time("yesterday")), Ttl::Text("0"), SENT), Ok(()));
    assert_eq!(
        age(Some(Sent::Time("yesterday")), Ttl::Text("5"), SENT),
        Err("time: 'yesterday' is not an RFC 3339 timestamp".to_owned())
    );
    for bad in ["", "soon", "1__0", "_1", "1_", "1_.5", "--1", "+-1", "0x10", "١٠", "1e", "."] {
        let text = if bad.is_empty() { " " } else { bad };
        let expected = format!("ttl: {} is not a number of seconds", repr_str(text));
        assert_eq!(age(sent, Ttl::Text(text), SENT), Err(expected), "{bad:?}");
    }
    for good in ["10", "1_000", ".5", "5.", "1E3", "-0", "Infinity", " 7 "] {
        assert_eq!(age(sent, Ttl::Text(good), SENT + 0.25), Ok(()), "{good:?}");
    }
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
fn an_outgoing_record_needs_its_task_id() {
    assert_eq!(check_task_id(Some("t-1")), Ok(()));
    for missing in [None, Some("")] {
        let message = check_task_id(missing).map_err(|e| e.to_string());
        assert_eq!(message, Err("record field 'task_id' is missing or empty".to_owned()));
    }
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
