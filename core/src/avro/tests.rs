use super::*;

const TASK: &str = r#"{"type":"record","name":"TaskRequest","namespace":"a2a","fields":[
    {"name":"task_id","type":"string"},
    {"name":"proposed_cost","type":["null","double"],"default":null},
    {"name":"priority","type":"int","default":1},
    {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"state","type":{"type":"enum","name":"State","symbols":["NEW","DONE"],"default":"NEW"}},
    {"name":"tags","type":{"type":"array","items":"string"}},
    {"name":"metadata","type":{"type":"map","values":"string"}}]}"#;

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn task() -> Value {
    Value::Map(vec![
        ("task_id".into(), s("t-1")),
        ("proposed_cost".into(), Value::Double(2.5)),
        ("priority".into(), Value::Long(-3)),
        ("timestamp".into(), Value::Long(1_700_000_000_000)),
        ("state".into(), s("DONE")),
        ("tags".into(), Value::Array(vec![s("a"), s("é")])),
        ("metadata".into(), Value::Map(vec![("k".into(), s("v"))])),
    ])
}

fn encode(codec: &Codec, value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    codec.encode(&value, &mut out)?;
    Ok(out)
}

#[test]
fn varints_are_zigzag_encoded() {
    let mut out = Vec::new();
    for v in [0, -1, 1, -64, 64, i64::MIN, i64::MAX] {
        out.clear();
        encode::write_long(&mut out, v);
        assert_eq!(Reader::new(&out).read_long().unwrap(), v);
    }
    out.clear();
    encode::write_long(&mut out, -64);
    assert_eq!(out, [0x7f]);
    out.clear();
    encode::write_long(&mut out, 64);
    assert_eq!(out, [0x80, 0x01]);
}

#[test]
fn record_round_trips_with_known_bytes() {
    let codec = Codec::new(TASK, None).unwrap();
    let bytes = encode(&codec, &task()).unwrap();
    assert_eq!(&bytes[..4], &[6, b't', b'-', b'1']);
    assert_eq!(bytes[4], 2, "union branch 1 (double)");
    assert_eq!(codec.decode(&bytes, None, &mut ValueBuilder).unwrap(), task());
}

#[test]
fn omitted_fields_take_defaults_and_nullable_ones_null() {
    let codec = Codec::new(TASK, None).unwrap();
    let Value::Map(mut entries) = task() else { unreachable!() };
    entries.retain(|(k, _)| k != "priority" && k != "proposed_cost");
    let decoded = codec.decode(&encode(&codec, &Value::Map(entries)).unwrap(), None, &mut ValueBuilder).unwrap();
    let Value::Map(decoded) = decoded else { panic!("not a record") };
    assert_eq!(decoded[1], ("proposed_cost".into(), Value::Null));
    assert_eq!(decoded[2], ("priority".into(), Value::Long(1)));
}

#[test]
fn validation_errors_name_the_field_path() {
    let codec = Codec::new(TASK, None).unwrap();
    let Value::Map(mut entries) = task() else { unreachable!() };
    entries[2].1 = s("high");
    let err = encode(&codec, &Value::Map(entries.clone())).unwrap_err();
    assert_eq!(err.to_string(), "TaskRequest.priority: expected int, got str");
    entries[2].1 = Value::Long(1);
    entries[5].1 = Value::Array(vec![s("a"), Value::Long(1)]);
    let err = encode(&codec, &Value::Map(entries.clone())).unwrap_err();
    assert_eq!(err.to_string(), "TaskRequest.tags[1]: expected string, got int");
    entries.remove(0);
    let err = encode(&codec, &Value::Map(entries)).unwrap_err();
    assert_eq!(err.to_string(), "TaskRequest.task_id: missing required field");
}

#[test]
fn truncated_and_garbage_bytes_are_decode_errors() {
    let codec = Codec::new(TASK, None).unwrap();
    let bytes = encode(&codec, &task()).unwrap();
    for end in 0..bytes.len() {
        let err = codec.decode(&bytes[..end], None, &mut ValueBuilder).unwrap_err();
        assert!(matches!(err, Error::Decode { offset, .. } if offset <= end), "{end}: {err}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(codec.decode(&longer, None, &mut ValueBuilder), Err(Error::Decode { .. })));
    // A string claiming an enormous length must fail before allocating anything.
    let hostile = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    assert!(matches!(codec.decode(&hostile, None, &mut ValueBuilder), Err(Error::Decode { offset: 0, .. })));
}

#[test]
fn arrays_of_nulls_are_bounded() {
    let codec = Codec::new(r#"{"type":"array","items":"null"}"#, None).unwrap();
    let mut data = Vec::new();
    encode::write_long(&mut data, i64::MAX);
    assert!(matches!(codec.decode(&data, None, &mut ValueBuilder), Err(Error::Decode { .. })));
    let data = [6, 0];
    assert_eq!(
        codec.decode(&data, None, &mut ValueBuilder).unwrap(),
        Value::Array(vec![Value::Null, Value::Null, Value::Null])
    );
}

#[test]
fn wire_header_is_magic_and_big_endian_id() {
    let codec = Codec::new("\"string\"", Some(0x0102_0304)).unwrap();
    let bytes = encode(&codec, &s("x")).unwrap();
    assert_eq!(bytes, [0, 1, 2, 3, 4, 2, b'x']);
    assert_eq!(parse_wire_header(&bytes).unwrap(), (0x0102_0304, 5));
    assert!(matches!(parse_wire_header(&[1, 0, 0, 0, 0]), Err(Error::Decode { offset: 0, .. })));
    assert!(matches!(parse_wire_header(&[0, 0]), Err(Error::Decode { .. })));
    let other = Codec::new("\"string\"", Some(9)).unwrap();
    assert!(matches!(other.decode(&bytes, None, &mut ValueBuilder), Err(Error::Schema { .. })));
    let plan = other.plan_for(codec.schema()).unwrap();
    assert_eq!(other.decode(&bytes, Some(&plan), &mut ValueBuilder).unwrap(), s("x"));
}

#[test]
fn resolution_adds_defaults_skips_removed_fields_and_promotes() {
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"gone","type":{"type":"array","items":"string"}},
        {"name":"n","type":"int"},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
        {"name":"u","type":["null","string"]}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"n","type":"double"},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}},
        {"name":"u","type":["null","bytes"]},
        {"name":"added","type":"string","default":"hi"}]}"#;
    let w = Codec::new(writer, None).unwrap();
    let r = Codec::new(reader, None).unwrap();
    let value = Value::Map(vec![
        ("gone".into(), Value::Array(vec![s("x")])),
        ("n".into(), Value::Long(7)),
        ("e".into(), s("C")),
        ("u".into(), s("é")),
    ]);
    let plan = r.plan_for_text(writer).unwrap();
    assert!(Arc::ptr_eq(&plan, &r.plan_for_text(writer).unwrap()), "plans are cached");
    let decoded = r.decode(&encode(&w, &value).unwrap(), Some(&plan), &mut ValueBuilder).unwrap();
    assert_eq!(
        decoded,
        Value::Map(vec![
            ("n".into(), Value::Double(7.0)),
            ("e".into(), s("A")),
            ("u".into(), Value::Bytes("é".as_bytes().to_vec())),
            ("added".into(), s("hi")),
        ])
    );
}

#[test]
fn unresolvable_pairs_are_schema_errors() {
    let reader = Codec::new(r#"{"type":"record","name":"R","fields":[{"name":"x","type":"int"}]}"#, None).unwrap();
    for writer in [
        r#"{"type":"record","name":"R","fields":[]}"#,
        r#"{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"x","type":"long"}]}"#,
        "\"int\"",
    ] {
        assert!(matches!(reader.plan_for_text(writer), Err(Error::Schema { .. })), "{writer}");
    }
}

#[test]
fn union_branch_follows_fastavro() {
    let codec = Codec::new(r#"["null","int","long","float","double","string"]"#, None).unwrap();
    let first = |v: Value| encode(&codec, &v).unwrap()[0];
    assert_eq!(first(Value::Null), 0);
    assert_eq!(first(Value::Long(1)), 2);
    assert_eq!(first(Value::Long(1 << 40)), 4);
    assert_eq!(first(Value::Double(1.5)), 8, "double preferred over float");
    assert_eq!(first(s("x")), 10);
    let records = Codec::new(
        r#"[{"type":"record","name":"A","fields":[{"name":"a","type":"int"}]},
            {"type":"record","name":"B","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}]"#,
        None,
    )
    .unwrap();
    let both = Value::Map(vec![("a".into(), Value::Long(1)), ("b".into(), Value::Long(2))]);
    assert_eq!(encode(&records, &both).unwrap()[0], 2, "the record sharing most fields");
}

#[test]
fn recursive_schema_round_trips_and_deep_data_is_refused() {
    let codec = Codec::new(
        r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#,
        None,
    )
    .unwrap();
    let mut value = Value::Map(vec![("v".into(), Value::Long(0)), ("next".into(), Value::Null)]);
    for i in 1..10 {
        value = Value::Map(vec![("v".into(), Value::Long(i)), ("next".into(), value)]);
    }
    let bytes = encode(&codec, &value).unwrap();
    assert_eq!(codec.decode(&bytes, None, &mut ValueBuilder).unwrap(), value);
    let deep: Vec<u8> = std::iter::repeat_n([0u8, 2], 10_000).flatten().collect();
    assert!(matches!(codec.decode(&deep, None, &mut ValueBuilder), Err(Error::Decode { .. })));
}

#[test]
fn floats_and_doubles_keep_special_values() {
    let codec = Codec::new(r#"{"type":"array","items":["float","double"]}"#, None).unwrap();
    let value = Value::Array(vec![Value::Double(f64::INFINITY), Value::Double(-0.0), Value::Double(1e300)]);
    let decoded = codec.decode(&encode(&codec, &value).unwrap(), None, &mut ValueBuilder).unwrap();
    assert_eq!(decoded, value);
    let float = Codec::new("\"float\"", None).unwrap();
    assert!(matches!(encode(&float, &Value::Double(1e300)), Err(Error::Validation { .. })));
    let nan = float.decode(&encode(&float, &Value::Double(f64::NAN)).unwrap(), None, &mut ValueBuilder).unwrap();
    assert!(matches!(nan, Value::Double(v) if v.is_nan()));
}

#[test]
fn union_of_string_and_bytes_keeps_the_written_branch() {
    let codec = Codec::new(r#"["string","bytes"]"#, None).unwrap();
    let value = Value::Bytes(vec![1]);
    assert_eq!(codec.decode(&encode(&codec, &value).unwrap(), None, &mut ValueBuilder).unwrap(), value);
}
