//! JSON parsing with `serde_json`: a generated document of records, parsed both into typed
//! structs (serde derive) and into the dynamic `serde_json::Value`.

use bench_common::{Rng, mix};
use serde::Deserialize;
use std::fmt::Write;

#[derive(Deserialize)]
struct Record {
    id: u64,
    name: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
    position: Position,
    note: Option<String>,
}

#[derive(Deserialize)]
struct Position {
    x: i64,
    y: i64,
}

const TAGS: [&str; 8] = [
    "alpha", "beta", "gamma", "delta", "wasm", "kernel", "fast", "slow",
];

/// A JSON array of `n` records with strings (some escaped), numbers, booleans, arrays,
/// nested objects and nulls.
fn document(n: u32) -> String {
    let mut rng = Rng::new(0x5eed_0006);
    let mut s = String::with_capacity(n as usize * 200);
    s.push('[');
    for id in 0..n {
        if id > 0 {
            s.push_str(",\n");
        }
        let tags = rng.below(4);
        write!(
            s,
            r#"{{"id": {id}, "name": "user \"{}\"\t#{id}", "score": {}.{:02}, "active": {}, "tags": ["#,
            rng.below(1000),
            rng.below(100_000),
            rng.below(100),
            rng.below(2) == 1,
        )
        .unwrap();
        for t in 0..tags {
            if t > 0 {
                s.push_str(", ");
            }
            write!(s, "\"{}\"", TAGS[rng.below(8) as usize]).unwrap();
        }
        write!(
            s,
            r#"], "position": {{"x": {}, "y": {}}}, "note": "#,
            rng.below(1 << 20) as i64 - (1 << 19),
            rng.below(1 << 20) as i64 - (1 << 19),
        )
        .unwrap();
        if rng.below(3) == 0 {
            s.push_str("null}");
        } else {
            write!(s, "\"note \\u00e9 {}\"}}", rng.next_u32()).unwrap();
        }
    }
    s.push(']');
    s
}

/// Folds a dynamic JSON value into a checksum.
fn walk(v: &serde_json::Value, hash: u64) -> u64 {
    use serde_json::Value;
    match v {
        Value::Null => mix(hash, 1),
        Value::Bool(b) => mix(hash, 2 + u64::from(*b)),
        Value::Number(n) => mix(
            hash,
            n.as_u64()
                .or_else(|| n.as_i64().map(|i| i as u64))
                .unwrap_or_else(|| n.as_f64().unwrap_or(0.0).to_bits()),
        ),
        Value::String(s) => mix(hash, s.len() as u64 ^ u64::from(s.as_bytes()[0])),
        Value::Array(a) => a.iter().fold(mix(hash, a.len() as u64), |h, v| walk(v, h)),
        Value::Object(o) => o.iter().fold(mix(hash, o.len() as u64), |h, (k, v)| {
            walk(v, mix(h, k.len() as u64))
        }),
    }
}

/// The workload: parses a document of `n` records twice (typed and dynamic); the checksum
/// covers every field.
pub fn run(n: u32) -> u64 {
    let doc = document(n);
    let records: Vec<Record> = serde_json::from_str(&doc).expect("valid JSON");
    let mut hash = 0;
    for r in &records {
        hash = mix(hash, r.id);
        hash = mix(hash, r.name.len() as u64);
        hash = mix(hash, r.score.to_bits());
        hash = mix(hash, u64::from(r.active));
        hash = mix(hash, r.tags.iter().map(|t| t.len() as u64).sum());
        hash = mix(hash, (r.position.x ^ (r.position.y << 20)) as u64);
        hash = mix(
            hash,
            r.note.as_ref().map_or(0, |n| n.chars().count() as u64),
        );
    }
    let value: serde_json::Value = serde_json::from_str(&doc).expect("valid JSON");
    walk(&value, hash)
}

bench_common::export_run!(crate::run);
