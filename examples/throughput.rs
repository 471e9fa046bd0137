//! Quick engine throughput check for development: best of N passes over a file, one thread.
//! `cargo run --release --example throughput -- ../shared/corpus/bench/mixed.log [passes]`
//! (criterion in `benches/engine.rs` is the reference; this one takes seconds).
use caviard::engine::{Format, Redactor, Scratch, Summary};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: throughput FILE [PASSES]");
        std::process::exit(2);
    };
    let passes: usize = args.next().and_then(|p| p.parse().ok()).unwrap_or(7);
    let data = std::fs::read(&path).expect("read input");
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let redactor = Redactor::builtin().expect("built-in policy");
    let (mut scratch, mut summary, mut out) = (Scratch::default(), Summary::default(), Vec::new());
    let mut best = f64::MAX;
    for _ in 0..passes {
        let t = Instant::now();
        for line in &lines {
            out.clear();
            redactor.redact_into(line, Format::Auto, &mut scratch, &mut summary, &mut out);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{path}: {:.1} MB/s (best of {passes}, {} redactions per pass)",
        data.len() as f64 / best / 1e6,
        summary.total() as usize / passes
    );
}
