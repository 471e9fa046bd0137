//! Engine throughput against a naive baseline, in the same run.
//!
//! For each input: `caviard` (the engine, one thread, line by line as `caviard redact` does),
//! `naive_regex` (one regex per category applied in turn with `replace_all` over each line, as
//! Vector's `redact` and the OpenTelemetry redaction processor do), and `memchr_lines` (counting
//! lines: the floor). Quote the ratios, not the absolute numbers: the machines are shared.
//!
//! Inputs: `../shared/corpus/bench/{mixed,dense}.log` when present (the development workspace),
//! their JSON-only and text-only lines, and their lines in which the engine finds nothing.
//! Without `../shared/` the corpus groups are skipped with a message and a synthetic input runs.

use caviard::engine::{Format, Redactor, Scratch, Summary};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use regex::Regex;
use std::path::PathBuf;
use std::time::Duration;

#[path = "common/naive.rs"]
mod naive;
use naive::{naive_redact, NAIVE};

fn engine_redact(r: &Redactor, scratch: &mut Scratch, out: &mut Vec<u8>, data: &[u8]) -> usize {
    let mut summary = Summary::default();
    let mut changed = 0;
    // Lines cut with memchr, as `caviard redact` reads them (and as `str::lines` does for the
    // baseline).
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', data).chain(std::iter::once(data.len())) {
        out.clear();
        let line = &data[start..end];
        changed += r.redact_into(line, Format::Auto, scratch, &mut summary, out) as usize;
        start = end + 1;
    }
    changed
}

fn corpus(name: &str) -> Option<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/bench")
        .join(name);
    match std::fs::read(&p) {
        Ok(d) => Some(d),
        Err(_) => {
            eprintln!(
                "SKIP {name}: {} not found (only in the development workspace)",
                p.display()
            );
            None
        }
    }
}

/// Lines of `data` for which `keep` holds, joined.
fn select(data: &[u8], mut keep: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    for line in data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && keep(l))
    {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

fn synthetic() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..20_000 {
        s.push_str(&format!(
            "{{\"ts\":\"2024-02-25T13:11:55.{:03}Z\",\"level\":\"info\",\"msg\":\"GET /api/v1/orders/{i} 200\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e{:04x}\",\"duration\":\"{}ms\"}}\n",
            i % 1000, i % 65536, i % 500
        ));
        if i % 12 == 0 {
            s.push_str(&format!("level=warn msg=\"sms failed\" to=+33 6 12 34 {:02} {:02} email=user{i}@example.fr ip=84.1.{}.{}\n", i % 100, (i / 100) % 100, i % 250, i % 200));
        }
    }
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let r = Redactor::builtin().expect("built-in policy");
    let naive: Vec<Regex> = NAIVE
        .iter()
        .map(|(_, p)| Regex::new(p).expect("baseline regex"))
        .collect();
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for name in ["mixed.log", "dense.log"] {
        if let Some(d) = corpus(name) {
            let stem = name.trim_end_matches(".log");
            let is_json = |l: &[u8]| l.first() == Some(&b'{');
            inputs.push((format!("{stem}/json_only"), select(&d, is_json)));
            inputs.push((format!("{stem}/text_only"), select(&d, |l| !is_json(l))));
            if stem == "mixed" {
                let (mut s, mut sum, mut o) = (Scratch::default(), Summary::default(), Vec::new());
                let clean = select(&d, |l| {
                    o.clear();
                    !r.redact_into(l, Format::Auto, &mut s, &mut sum, &mut o)
                });
                inputs.push(("mixed/clean".to_string(), clean));
            }
            inputs.push((stem.to_string(), d));
        }
    }
    if inputs.is_empty() {
        inputs.push(("synthetic".to_string(), synthetic()));
    }
    for (name, data) in &inputs {
        let text = String::from_utf8_lossy(data).into_owned();
        let mut g = c.benchmark_group(name.as_str());
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        let (mut scratch, mut out) = (Scratch::default(), Vec::with_capacity(1 << 16));
        g.bench_function(BenchmarkId::new("caviard", ""), |b| {
            b.iter(|| engine_redact(&r, &mut scratch, &mut out, data))
        });
        g.bench_function(BenchmarkId::new("naive_regex", ""), |b| {
            b.iter(|| naive_redact(&naive, &text))
        });
        g.bench_function(BenchmarkId::new("memchr_lines", ""), |b| {
            b.iter(|| memchr::memchr_iter(b'\n', data).count())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
