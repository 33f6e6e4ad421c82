//! Times the bytes-to-bytes CloudEvents conversions on the benchmark's messages, for profiling
//! with `perf record`: `cargo run --release --example ce_bytes [rounds] [in|out|escaped]`.

use std::time::Instant;

use a2a_core::cloudevents::a2a::{a2a_json_to_event_json, event_json_to_a2a_json};

const BATCH: usize = 1000;

/// The messages of `bench/test_cloudevents.py`, as Python's `json.dumps` writes them.
fn message(i: usize) -> String {
    let target = if i % 5 == 0 {
        "null".to_owned()
    } else {
        format!(r#"{{"agentId": "worker-{}", "agentType": "executor", "capabilities": ["execute"]}}"#, i % 13)
    };
    let mut meta =
        format!(r#"{{"priority": "{}", "ttl": 300, "correlationId": "corr-{i}""#, ["HIGH", "NORMAL", "LOW"][i % 3]);
    if i % 2 == 1 {
        meta += &format!(r#", "traceparent": "00-{i:032x}-{i:016x}-01""#);
    }
    if i % 5 == 0 {
        meta += &format!(r#", "collaborationId": "collab-{}""#, i % 3);
    }
    format!(
        concat!(
            r#"{{"protocol": "A2A", "version": "1.0", "messageId": "msg-{i:08}", "#,
            r#""timestamp": "2025-03-01T12:{mm:02}:{ss:02}.{ms:03}Z", "#,
            r#""sourceAgent": {{"agentId": "planner-{p}", "agentType": "planner", "capabilities": ["plan", "route"]}}, "#,
            r#""targetAgent": {target}, "messageType": "TASK_REQUEST", "#,
            r#""payload": {{"task": "summarize", "document": {{"id": {i}, "title": "Quarterly report {i}", "#,
            r#""pages": [1, 2, 3]}}, "deadlineSeconds": 30.5, "tags": ["finance", "q1"]}}, "#,
            r#""metadata": {meta}}}}}"#
        ),
        i = i,
        mm = i / 60 % 60,
        ss = i % 60,
        ms = i % 1000,
        p = i % 7,
        target = target,
        meta = meta,
    )
}

fn best_of(rounds: usize, inputs: &[Vec<u8>], convert: fn(&[u8], &mut Vec<u8>) -> a2a_core::Result<()>) -> f64 {
    let mut out = Vec::with_capacity(BATCH * 800);
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        out.clear();
        let start = Instant::now();
        for input in inputs {
            convert(input, &mut out).expect("valid");
        }
        best = best.min(start.elapsed().as_secs_f64() / inputs.len() as f64);
    }
    best * 1e6
}

fn main() {
    let rounds = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(200);
    let which = std::env::args().nth(2).unwrap_or_default();
    let messages: Vec<Vec<u8>> = (0..BATCH).map(|i| message(i).into_bytes()).collect();
    let events: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            a2a_json_to_event_json(m, &mut out).expect("valid");
            out
        })
        .collect();
    if which != "out" && which != "escaped" {
        println!("A2A JSON -> CloudEvent JSON: {:.3} µs/event", best_of(rounds, &messages, a2a_json_to_event_json));
    }
    if which != "in" && which != "escaped" {
        println!("CloudEvent JSON -> A2A JSON: {:.3} µs/event", best_of(rounds, &events, event_json_to_a2a_json));
    }
    if which == "escaped" {
        // An escape in the last text of each message and event: the plain branch reads it into its
        // side buffer and the writer escapes it again.
        let escape = |bytes: &Vec<u8>| String::from_utf8_lossy(bytes).replace("corr-", "corr\\u002d").into_bytes();
        let (messages, events): (Vec<_>, Vec<_>) =
            (messages.iter().map(escape).collect(), events.iter().map(escape).collect());
        println!(
            "escaped A2A JSON -> CloudEvent JSON: {:.3} µs/event",
            best_of(rounds, &messages, a2a_json_to_event_json)
        );
        println!(
            "escaped CloudEvent JSON -> A2A JSON: {:.3} µs/event",
            best_of(rounds, &events, event_json_to_a2a_json)
        );
    }
}
