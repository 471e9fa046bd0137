//! The hot path allocates nothing: a counting global allocator around `redact_into` and the
//! tagging of `caviard redact --tag`.
use caviard::config::retention::{AuditConfig, RetentionConfig};
use caviard::engine::{Format, Redactor, Scratch, Summary};
use caviard::retention::{AuditSummary, LineScratch, LineTagger, RetentionPolicy};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Per thread, so tests running side by side do not count each other's allocations (a
    // const-initialised Cell: reading it never allocates).
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> usize {
    COUNT.with(Cell::get)
}

// SAFETY: forwards to the system allocator, only counting calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CLEAN: &[&[u8]] = &[
    br#"{"@timestamp":"2024-02-25T13:11:55.130Z","level":"info","msg":"GET /api/v1/orders 200","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","duration":"45.35s","pod":"payments-7d9f8-x2k4p","name":"nginx"}"#,
    b"time=2025-01-28T13:07:56Z level=info msg=\"cache hit\" cache_key=users:42 ip=10.0.0.12 size=3382KiB v=1.29.2",
    b"<30>Dec 18 04:59:12 bastion-01 systemd[1]: shop-worker.service: Consumed 22m24s CPU time.",
];

const DIRTY: &[u8] = br#"{"user":{"email":"jean.dupont@example.fr","phone":"+33 6 12 34 56 78","name":"Jean Dupont"},"ip":"84.1.2.3","password":"hunter2"}"#;

#[test]
fn no_allocation_per_record() {
    let r = Redactor::builtin().unwrap();
    let (mut scratch, mut summary) = (Scratch::default(), Summary::default());
    let mut out = Vec::with_capacity(4096);
    // Warm up: caches and buffers grow to their working size once.
    for line in CLEAN.iter().chain(std::iter::once(&DIRTY)) {
        out.clear();
        r.redact_into(line, Format::Auto, &mut scratch, &mut summary, &mut out);
    }
    let before = allocs();
    for _ in 0..100 {
        for line in CLEAN {
            out.clear();
            let changed = r.redact_into(line, Format::Auto, &mut scratch, &mut summary, &mut out);
            assert!(!changed, "{}", String::from_utf8_lossy(&out));
        }
    }
    assert_eq!(allocs() - before, 0, "allocations on clean lines");
    let before = allocs();
    for _ in 0..100 {
        out.clear();
        summary.clear();
        assert!(r.redact_into(DIRTY, Format::Auto, &mut scratch, &mut summary, &mut out));
    }
    assert_eq!(
        allocs() - before,
        0,
        "allocations on a redacted line after warm-up"
    );
    assert_eq!(
        summary.total(),
        5,
        "{:?}",
        summary.categories().collect::<Vec<_>>()
    );
}

#[test]
fn no_allocation_per_tagged_line() {
    let r = Redactor::builtin().unwrap();
    let policy = RetentionPolicy::compile(&RetentionConfig::default(), None).unwrap();
    let tagger = LineTagger::new(
        Some(policy),
        AuditSummary::from_config(&AuditConfig::default()),
    );
    let lines: [(&[u8], Format); 6] = [
        (CLEAN[0], Format::Auto),
        (DIRTY, Format::Auto),
        // Nested ECS field, a debug level, and a forged class to remove.
        (
            br#"{"event":{"category":"iam"},"level":"debug","retention.class":"x"}"#,
            Format::Auto,
        ),
        // An ECS array, read element by element.
        (
            br#"{"event":{"category":["web","authentication"]},"level":"notice"}"#,
            Format::Auto,
        ),
        (CLEAN[1], Format::Logfmt),
        (b"level=warn user=jean.dupont@example.fr", Format::Logfmt),
    ];
    let (mut scratch, mut summary) = (Scratch::default(), Summary::default());
    let mut lines_scratch = LineScratch::default();
    let mut out = Vec::with_capacity(4096);
    let mut pass = |out: &mut Vec<u8>| {
        for (line, format) in lines {
            out.clear();
            summary.clear();
            r.redact_into(line, format, &mut scratch, &mut summary, out);
            assert!(tagger.tag(out, 0, format, &summary, &mut lines_scratch));
        }
    };
    pass(&mut out);
    let before = allocs();
    for _ in 0..100 {
        pass(&mut out);
    }
    assert_eq!(
        allocs() - before,
        0,
        "allocations tagging lines after warm-up"
    );
}
