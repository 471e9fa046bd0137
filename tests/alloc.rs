//! The hot path allocates nothing: a counting global allocator around `redact_into`.
use caviard::engine::{Format, Redactor, Scratch, Summary};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
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
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        for line in CLEAN {
            out.clear();
            let changed = r.redact_into(line, Format::Auto, &mut scratch, &mut summary, &mut out);
            assert!(!changed, "{}", String::from_utf8_lossy(&out));
        }
    }
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed) - before,
        0,
        "allocations on clean lines"
    );
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        out.clear();
        summary.clear();
        assert!(r.redact_into(DIRTY, Format::Auto, &mut scratch, &mut summary, &mut out));
    }
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed) - before,
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
