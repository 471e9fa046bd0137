//! Engine throughput against the naive baseline, interleaved: engine pass, baseline pass,
//! engine pass... and the best of each, so that a noisy shared machine slows both alike.
//! Criterion (`benches/engine.rs`) measures one after the other; this takes seconds.
//!
//! `cargo run --release --example throughput -- ../shared/corpus/bench/mixed.log [ROUNDS]`
use caviard::engine::{Format, Redactor, Scratch, Summary};
use regex::Regex;
use std::time::Instant;

#[path = "../benches/common/naive.rs"]
mod naive;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: throughput FILE [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|p| p.parse().ok()).unwrap_or(7);
    let data = std::fs::read(&path).expect("read input");
    let text = String::from_utf8_lossy(&data).into_owned();
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let redactor = Redactor::builtin().expect("built-in policy");
    let baseline: Vec<Regex> = naive::NAIVE
        .iter()
        .map(|(_, p)| Regex::new(p).expect("baseline regex"))
        .collect();
    let (mut scratch, mut summary, mut out) = (Scratch::default(), Summary::default(), Vec::new());
    let (mut engine, mut naive) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        let t = Instant::now();
        for line in &lines {
            out.clear();
            redactor.redact_into(line, Format::Auto, &mut scratch, &mut summary, &mut out);
        }
        engine = engine.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::hint::black_box(naive::naive_redact(&baseline, &text));
        naive = naive.min(t.elapsed().as_secs_f64());
    }
    let mb = |secs: f64| data.len() as f64 / secs / 1e6;
    println!(
        "{path}: caviard {:.1} MB/s, naive regex {:.1} MB/s, ratio {:.2}x (best of {rounds} interleaved rounds, one thread)",
        mb(engine),
        mb(naive),
        naive / engine
    );
}
