use super::*;
use crate::cloudevents::json::MAX_DEPTH;
use crate::cloudevents::value::parse;

const MESSAGE: &str = r#"{"protocol":"A2A","version":"1.0","messageId":"m-1","timestamp":"2025-01-02T03:04:05.678Z",
        "sourceAgent":{"agentId":"planner","agentType":"llm","capabilities":["plan","route"]},
        "targetAgent":null,"messageType":"TASK_REQUEST","payload":{"task":"sum","args":[1,2]},
        "metadata":{"priority":"HIGH","ttl":300,"correlationId":"c-9","collaborationId":"col-1"}}"#;

fn message() -> Value<'static> {
    parse(MESSAGE.as_bytes()).expect("valid JSON")
}

fn sorted(value: Value<'_>) -> Value<'_> {
    match value {
        Value::Object(mut members) => {
            members.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(members.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        other => other,
    }
}

/// Variants of [`MESSAGE`] that exercise every optional branch and escaping in the writers.
fn variants() -> Vec<String> {
    vec![
        MESSAGE.to_owned(),
        MESSAGE.replace(r#""targetAgent":null,"#, ""),
        MESSAGE
            .replace(r#""targetAgent":null"#, r#""targetAgent":{"agentId":"w\"1é","agentType":"x","capabilities":[]}"#),
        MESSAGE.replace(r#","collaborationId":"col-1""#, r#","traceparent":null,"collaborationId":null"#),
        MESSAGE.replace(r#""c-9""#, r#""c\\9\/""#).replace(r#""plan","route""#, r#""p\"lan""#),
        MESSAGE.replace(r#"{"task":"sum","args":[1,2]}"#, r#"[-0,1.5e300,18446744073709551615,"\u0001"]"#),
        MESSAGE.replace(r#"{"task":"sum","args":[1,2]}"#, r#""t\u00e9xt""#),
        MESSAGE.replace(r#"{"task":"sum","args":[1,2]}"#, "null"),
        MESSAGE.replace(r#"{"task":"sum","args":[1,2]}"#, "-2.5E-3"),
        // As Python's `json.dumps` writes it.
        MESSAGE.replace("\n        ", "").replace(",\"", ", \"").replace("\":", "\": "),
        MESSAGE.replace(
            r#""targetAgent":null"#,
            r#""targetAgent":{"agentId":"w1","agentType":"x","capabilities":["a","b","c"]}"#,
        ),
        MESSAGE.replace(r#""plan","route""#, r#""1","2","3","4","5","6","7","8","9""#),
        MESSAGE.replace(r#""collaborationId":"col-1""#, r#""traceparent":"00-ab-cd-01""#),
    ]
}

/// `text` with the members of its top-level object (and of objects directly inside) in reverse order.
fn reversed(text: &[u8]) -> Vec<u8> {
    fn reverse(value: Value<'_>, levels: usize) -> Value<'_> {
        match value {
            Value::Object(members) if levels > 0 => {
                Value::Object(members.into_iter().rev().map(|(k, v)| (k, reverse(v, levels - 1))).collect())
            }
            other => other,
        }
    }
    let mut out = Vec::new();
    write_value(&mut out, &reverse(parse(text).expect("valid"), 2), "").expect("ok");
    out
}

/// What the A2A JSON reader and the event writer should give for `text`, by the tree rules.
fn a2a_oracle(text: &[u8]) -> Result<Vec<u8>> {
    let message = A2aMessage::from_value(parse(text)?)?;
    let mut out = Vec::new();
    message.write_event_json(&mut out, Texts::Any, |out| write_value(out, &message.payload, "payload"))?;
    Ok(out)
}

/// What the event reader and the A2A writer should give for `text`, by the generic event reader.
fn event_oracle(text: &[u8]) -> Result<Vec<u8>> {
    let message = A2aMessage::from_event(CloudEvent::from_json(text)?)?;
    let mut out = Vec::new();
    message.write_json(&mut out)?;
    Ok(out)
}

/// Whether serde_json reads `text` as JSON (nesting kept below its own limit by the callers).
fn serde_reads(text: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(text).is_ok()
}

fn a2a_agrees(text: &[u8]) {
    let mut out = b"[".to_vec();
    let converted = a2a_json_to_event_json(text, &mut out).map(|()| out[1..].to_vec());
    assert_eq!(converted, a2a_oracle(text), "{}", String::from_utf8_lossy(text));
    assert_eq!(parse(text).is_ok(), serde_reads(text), "{}", String::from_utf8_lossy(text));
    if let Ok(event) = converted {
        let event: serde_json::Value = serde_json::from_slice(&event).expect("written JSON");
        let message: serde_json::Value = serde_json::from_slice(text).expect("read JSON");
        assert_eq!(event["data"], message["payload"]);
    }
}

fn event_agrees(text: &[u8]) {
    let mut out = b"[".to_vec();
    let converted = event_json_to_a2a_json(text, &mut out).map(|()| out[1..].to_vec());
    let expected = event_oracle(text);
    assert_eq!(converted, expected, "{}", String::from_utf8_lossy(text));
    let read = json_to_a2a(text);
    let general = CloudEvent::from_json(text).and_then(A2aMessage::from_event);
    assert_eq!(read, general, "{}", String::from_utf8_lossy(text));
    assert_eq!(parse(text).is_ok(), serde_reads(text), "{}", String::from_utf8_lossy(text));
    if let Ok(message) = converted {
        let message: serde_json::Value = serde_json::from_slice(&message).expect("written JSON");
        let event: serde_json::Value = serde_json::from_slice(text).expect("read JSON");
        assert_eq!(message["payload"], event["data"]);
    }
}

/// Inputs near `text`: each byte removed, or replaced by one of a few that break JSON or a rule.
fn edits(text: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    let bytes = text.as_bytes();
    (0..bytes.len()).flat_map(move |at| {
        let mut removed = bytes.to_vec();
        removed.remove(at);
        std::iter::once(removed).chain([b'"', b',', b'}', b'0', b'-', b'\\', 0x7f].into_iter().map(move |b| {
            let mut edited = bytes.to_vec();
            edited[at] = b;
            edited
        }))
    })
}

fn plain_reads() -> usize {
    super::super::a2a_json::PLAIN_READS.get()
}

#[test]
fn a2a_json_reader_gives_what_the_tree_rules_give() {
    let before = plain_reads();
    for text in variants() {
        a2a_agrees(text.as_bytes());
        a2a_agrees(&reversed(text.as_bytes()));
        for (from, to) in [
            (r#""version":"1.0""#, r#""version":"1.0","version":"2""#),
            (r#""ttl":300"#, r#""ttl":300,"ttl":300"#),
            (r#""ttl":300"#, r#""ttl":300.0"#),
            (r#""ttl":300"#, r#""ttl":2147483648"#),
            (r#""ttl":300"#, r#""ttl":-1"#),
            (r#""ttl":300"#, r#""ttl":null"#),
            (r#""collaborationId":"col-1""#, r#""collaborationId":"""#),
            (r#""messageType":"TASK_REQUEST""#, r#""messageType":"""#),
            (r#""HIGH""#, r#""H\u0049GH""#),
            (r#""HIGH""#, r#""high""#),
            (r#""agentType":"llm""#, r#""agentType":"llm","agentType":"llm""#),
            (r#""agentType":"llm""#, r#""agentType":"llm","extra":1"#),
            (r#""targetAgent":null"#, r#""targetAgent":[]"#),
            (r#""targetAgent":null"#, r#""targetAgent":null,"targetAgent":null"#),
            (r#""metadata""#, r#""metadata":{},"metadata""#),
            (r#""protocol":"A2A""#, r#""protocol":"A\u0032A""#),
            (r#""protocol":"A2A","#, ""),
            (r#""2025-01-02T03:04:05.678Z""#, r#""2025-02-30T03:04:05Z""#),
            (r#""plan""#, r#""pl,an""#),
            (r#""plan""#, r#""""#),
            (r#""plan""#, r#""pl\u002can""#),
            (r#""messageId""#, r#""message\u0049d""#),
            (r#""metadata""#, r#""met\u0061data""#),
            (r#"05.678Z""#, r#"05.678\u005a""#),
            (r#""HIGH""#, r#""H\u0049GH\u0000""#),
            (r#""c-9""#, r#""c\/9\"""#),
            (r#""messageType""#, r#""surprise":1,"messageType""#),
        ] {
            a2a_agrees(text.replacen(from, to, 1).as_bytes());
        }
        for edited in edits(&text) {
            a2a_agrees(&edited);
        }
    }
    assert!(plain_reads() - before > 100, "{}", plain_reads() - before);
}

#[test]
fn event_json_reader_gives_what_the_generic_event_reader_gives() {
    let before = plain_reads();
    for text in variants() {
        let event =
            String::from_utf8(a2a_to_json(parse(text.as_bytes()).expect("valid")).expect("valid")).expect("UTF-8");
        event_agrees(event.as_bytes());
        event_agrees(&reversed(event.as_bytes()));
        for (from, to) in [
            (r#""ttl":300"#, r#""ttl":300,"ttl":300"#),
            (r#""ttl":300"#, r#""ttl":"300""#),
            (r#""ttl":300"#, r#""ttl":-1"#),
            (r#""ttl":300"#, r#""ttl":3000000000"#),
            (r#""ttl":300"#, r#""ttl":null"#),
            (r#""ttl":300"#, r#""ttl":null,"ttl":1"#),
            (r#""ttl":300"#, r#""ttl":300,"other":1,"other":2"#),
            (r#""ttl":300"#, r#""ttl":300,"other":null,"other":2"#),
            (r#""ttl":300"#, r#""ttl":300,"Bad":1"#),
            (r#""ttl":300"#, r#""ttl":300,"x":1.5,"id":"#),
            (r#""id":"m-1""#, r#""id":"m-1","id":null"#),
            (r#""priority":"HIGH""#, r#""priority":"high""#),
            (r#""priority":"HIGH""#, r#""priority":"""#),
            (r#""protocol":"A2A""#, r#""protocol":"A\u0032A""#),
            (r#""protocol":"A2A""#, r#""protocol":"B2B""#),
            (r#""protocol":"A2A""#, r#""protocol":7,"dataschema":"not a uri""#),
            (r#""specversion":"1.0""#, r#""specversion":"0.3""#),
            (r#""datacontenttype":"application/json""#, r#""datacontenttype":"text/json""#),
            (r#""datacontenttype":"application/json""#, r#""datacontenttype":"text/plain""#),
            (r#""datacontenttype":"application/json""#, r#""datacontenttype":"text/plain","data_base64":"AA==""#),
            (r#""agentcapabilities":"plan,route""#, r#""agentcapabilities":"plan,,route""#),
            (r#""agentcapabilities":"plan,route""#, r#""agentcapabilities":"""#),
            (r#""messagetype":"TASK_REQUEST""#, r#""messagetype":"""#),
            (r#""time":"2025-01-02T03:04:05.678Z""#, r#""time":"2025-01-02""#),
            (r#""id":"m-1""#, r#""id":"m-1","subject":"s""#),
            (r#""id":"m-1""#, r#""id":"m-1","targetagenttype":"t""#),
            (r#""id":"m-1""#, r#""\u0069d":"m-1""#),
            (r#""targetagent":"""#, r#""targetagent":"t""#),
            (r#""agentcapabilities":"plan,route""#, r#""agentcapabilities":"plan\u002croute""#),
            (r#""agentcapabilities":"plan,route""#, r#""agentcapabilities":"pl\"an,route""#),
            (r#""time":"2025-01-02T03:04:05.678Z""#, r#""time":"2025-01-02T03:04:05.678\u005a""#),
            (r#""datacontenttype":"application/json""#, r#""datacontenttype":"application\/json""#),
            (r#""specversion":"1.0""#, r#""specversion":"1\u002e0""#),
            (r#","data":{"task":"sum","args":[1,2]}"#, r#","data_base64":"AA==""#),
            (r#","data":{"task":"sum","args":[1,2]}"#, ""),
            ("{", "["),
        ] {
            event_agrees(event.replacen(from, to, 1).as_bytes());
        }
        for edited in edits(&event) {
            event_agrees(&edited);
        }
    }
    assert!(plain_reads() - before > 100, "{}", plain_reads() - before);
    assert!(matches!(json_to_a2a(b"[1]"), Err(Error::Validation { path, .. }) if path == "event"));
    assert!(matches!(json_to_a2a(b"{\"id\":1,"), Err(Error::Decode { offset: 8, .. })));
}

#[test]
fn messages_with_many_capabilities_convert() {
    let capabilities: Vec<String> = (0..20).map(|c| format!(r#""c{c}""#)).collect();
    for n in [16, 17, 20] {
        let list = capabilities[..n].join(",");
        let target = format!(r#""targetAgent":{{"agentId":"w","agentType":"x","capabilities":[{list}]}}"#);
        for text in [MESSAGE.replace(r#""plan","route""#, &list), MESSAGE.replace(r#""targetAgent":null"#, &target)] {
            a2a_agrees(text.as_bytes());
            let mut event = Vec::new();
            a2a_json_to_event_json(text.as_bytes(), &mut event).expect("valid");
            event_agrees(&event);
            let mut back = Vec::new();
            event_json_to_a2a_json(&event, &mut back).expect("valid");
            let mut expected = Vec::new();
            A2aMessage::from_value(parse(text.as_bytes()).expect("valid JSON"))
                .expect("valid")
                .write_json(&mut expected)
                .expect("ok");
            assert_eq!(back, expected, "{text}");
        }
    }
}

#[test]
fn nested_payloads_convert_up_to_the_depth_limit() {
    for depth in [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH] {
        let payload = "[".repeat(depth) + &"]".repeat(depth);
        let text = MESSAGE.replace(r#"{"task":"sum","args":[1,2]}"#, &payload);
        let mut event = Vec::new();
        let converted = a2a_json_to_event_json(text.as_bytes(), &mut event);
        assert_eq!(converted.is_ok(), depth < MAX_DEPTH, "{depth}");
        assert_eq!(converted.map(|()| event.clone()), a2a_oracle(text.as_bytes()), "{depth}");
        if depth < MAX_DEPTH {
            assert!(event.ends_with(&[b",\"data\":", payload.as_bytes(), b"}"].concat()));
            let mut back = Vec::new();
            event_json_to_a2a_json(&event, &mut back).expect("valid");
            assert_eq!(Ok(back), event_oracle(&event));
        }
    }
}

#[test]
fn message_writers_match_the_tree_writers() {
    for text in variants() {
        let message = A2aMessage::from_value(parse(text.as_bytes()).expect("valid JSON")).expect("valid");
        let mut direct = Vec::new();
        message
            .write_event_json(&mut direct, Texts::Any, |out| write_value(out, &message.payload, "payload"))
            .expect("ok");
        assert_eq!(direct, message.clone().into_event().to_json().expect("ok"), "{text}");
        let mut direct = Vec::new();
        message.write_json(&mut direct).expect("ok");
        let mut general = Vec::new();
        write_value(&mut general, &message.clone().into_value(), "").expect("ok");
        assert_eq!(direct, general, "{text}");
    }
}

#[test]
fn round_trip_through_json_is_lossless() {
    let json = a2a_to_json(message()).expect("valid message");
    let back = json_to_a2a(&json).expect("valid event");
    assert_eq!(sorted(back.into_value()), sorted(message()));
}

#[test]
fn mapping_uses_the_documented_extensions() {
    let event = A2aMessage::from_value(message()).expect("valid").into_event();
    assert_eq!(event.id, "m-1");
    assert_eq!(event.ty, "a2a.TASK_REQUEST");
    assert_eq!(event.extension("sourceagent"), Some(&Extension::Str("planner".into())));
    assert_eq!(event.extension("agentcapabilities"), Some(&Extension::Str("plan,route".into())));
    assert_eq!(event.extension("targetagent"), Some(&Extension::Str("".into())));
    assert_eq!(event.extension("ttl"), Some(&Extension::Int(300)));
    assert_eq!(event.extension("traceparent"), None);
}

#[test]
fn invalid_fields_are_named() {
    let cases = [
        (r#""priority":"HIGH""#, r#""priority":"URGENT""#, "metadata.priority"),
        (r#""ttl":300"#, r#""ttl":-1"#, "metadata.ttl"),
        (r#""ttl":300"#, r#""ttl":3.5"#, "metadata.ttl"),
        (r#""protocol":"A2A""#, r#""protocol":"B2B""#, "protocol"),
        (r#""agentId":"planner""#, r#""agentId":"""#, "sourceAgent.agentId"),
        (r#"["plan","route"]"#, r#"["a,b"]"#, "sourceAgent.capabilities"),
        (r#""timestamp":"2025-01-02T03:04:05.678Z""#, r#""timestamp":"today""#, "timestamp"),
        (r#""targetAgent":null"#, r#""targetAgent":{"agentId":"x"}"#, "targetAgent.agentType"),
        (r#""messageType""#, r#""surprise":1,"messageType""#, "surprise"),
        (r#""collaborationId":"col-1""#, r#""collaborationId":7"#, "metadata.collaborationId"),
        (r#""messageId":"m-1""#, r#""messageId":"m\n1""#, "messageId"),
        (r#""agentId":"planner""#, r#""agentId":"plan\u001fner""#, "sourceAgent.agentId"),
        (r#"["plan","route"]"#, r#"["plan","ro\u0085ute"]"#, "sourceAgent.capabilities"),
    ];
    for (from, to, path) in cases {
        let text = MESSAGE.replacen(from, to, 1);
        assert_ne!(text, MESSAGE, "{from}");
        let value = parse(text.as_bytes()).expect("valid JSON");
        match A2aMessage::from_value(value) {
            Err(Error::Validation { path: got, .. }) => assert_eq!(got, path),
            other => panic!("{to}: expected a validation error, got {other:?}"),
        }
    }
}

#[test]
fn ttl_given_as_text_by_a_binding_is_read() {
    let mut event = A2aMessage::from_value(message()).expect("valid").into_event();
    for (name, ext) in &mut event.extensions {
        if name == "ttl" {
            *ext = Extension::Str("300".into());
        }
    }
    assert_eq!(A2aMessage::from_event(event.clone()).expect("valid").ttl, 300);
    event.extensions.retain(|(n, _)| n != "sourceagent");
    assert!(matches!(A2aMessage::from_event(event), Err(Error::Validation { path, .. }) if path == "sourceagent"));
}

#[test]
fn bytes_conversions_append_and_leave_the_buffer_alone_on_errors() {
    let event = a2a_to_json(message()).expect("valid");
    let mut out = b"[".to_vec();
    event_json_to_a2a_json(&event, &mut out).expect("valid");
    let mut message_json = Vec::new();
    A2aMessage::from_value(message()).expect("valid").write_json(&mut message_json).expect("ok");
    assert_eq!(out[1..], message_json[..]);
    out.push(b',');
    let before = out.clone();
    a2a_json_to_event_json(&message_json, &mut out).expect("valid");
    assert_eq!(out[before.len()..], event[..]);
    let before = out.clone();
    let bad = String::from_utf8(event.clone()).expect("UTF-8").replace(r#""ttl":300"#, r#""ttl":-1"#);
    assert!(event_json_to_a2a_json(bad.as_bytes(), &mut out).is_err());
    assert!(event_json_to_a2a_json(&event[..event.len() - 1], &mut out).is_err());
    let bad = String::from_utf8(message_json).expect("UTF-8").replace(r#""ttl":300"#, r#""ttl":-1"#);
    assert!(a2a_json_to_event_json(bad.as_bytes(), &mut out).is_err());
    assert_eq!(out, before);
}

/// Messages whose texts have escapes or characters beyond ASCII, in every member that takes text.
fn unusual_texts() -> Vec<String> {
    let dumped = MESSAGE.replace("\n        ", "").replace(",\"", ", \"").replace("\":", "\": ");
    let mut texts = Vec::new();
    for (from, to) in [
        (r#""m-1""#, r#""m\u002d1""#),
        (r#""m-1""#, r#""m-é""#),
        (r#""1.0""#, r#""1\/0""#),
        (r#""planner""#, r#""plan\"ner""#),
        (r#""planner""#, r#""plännér""#),
        (r#""llm""#, r#""l\u006cm""#),
        (r#""TASK_REQUEST""#, r#""TASK\\REQUEST""#),
        (r#""c-9""#, r#""c\u00e9""#),
        (r#""c-9""#, r#""c-\ud83d\ude00""#),
        (r#""col-1""#, r#""col\u00ff1""#),
        (r#""HIGH""#, r#""H\u0049GH""#),
        (r#""A2A""#, r#""A\u0032A""#),
        (r#""plan","route""#, r#""plän","route""#),
        (r#""plan","route""#, r#""plan","r\u006fute","x""#),
        (r#""plan","route""#, r#""pl\"an""#),
    ] {
        texts.push(MESSAGE.replacen(from, to, 1));
        texts.push(dumped.replacen(from, to, 1));
    }
    let target = r#""targetAgent":{"agentId":"wörker","agentType":"t\u0079pe","capabilities":["a","\u00e9"]}"#;
    texts.push(MESSAGE.replacen(r#""targetAgent":null"#, target, 1));
    texts
}

#[test]
fn escaped_and_non_ascii_texts_take_the_plain_branch() {
    for text in unusual_texts() {
        let before = plain_reads();
        a2a_agrees(text.as_bytes());
        assert_eq!(plain_reads() - before, 1, "{text}");
        let event =
            String::from_utf8(a2a_to_json(parse(text.as_bytes()).expect("valid")).expect("valid")).expect("UTF-8");
        // The event as written, and with each of its texts escaped where the writers would not.
        for event in [event.clone(), event.replace('-', "\\u002d").replace("a2a.", "a2a\\u002e")] {
            let before = plain_reads();
            event_agrees(event.as_bytes());
            // Read twice: into A2A JSON and into a message.
            assert_eq!(plain_reads() - before, 2, "{event}");
        }
        for edited in edits(&text).step_by(7) {
            a2a_agrees(&edited);
        }
    }
}
