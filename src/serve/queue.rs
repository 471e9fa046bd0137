//! The bounded queue between the redaction workers and the exporters.
//!
//! Capacity is counted in records and in bytes, all signals together, and is held by a
//! [`Permit`] that travels with the records until the upstream accepted them (or they were
//! dropped for good). So the queue measures "acknowledged but not yet delivered", which is
//! exactly what must stay bounded, and an upstream outage turns into backpressure at the
//! receivers. The per-signal [`Lanes`] are unbounded channels: every item in them holds a
//! permit, so the permits bound them.

use super::payload::Signal;
use crate::config::serve::QueueConfig;
use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

/// Records and bytes in use, against their maximum.
#[derive(Debug)]
pub(crate) struct Capacity {
    max_records: usize,
    max_bytes: usize,
    used: Mutex<Usage>,
    /// Mirror of `used.records` readable without the lock (readiness, metrics, fast checks).
    records_hint: AtomicUsize,
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    records: usize,
    bytes: usize,
}

/// Why capacity could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReserveError {
    /// Not now: retry once the upstream has caught up.
    Full,
    /// Never: the request alone is larger than the whole queue.
    TooLarge,
}

impl Capacity {
    pub(crate) fn new(config: &QueueConfig) -> Capacity {
        Capacity {
            max_records: config.max_records.get(),
            max_bytes: config.max_bytes.as_usize(),
            used: Mutex::new(Usage::default()),
            records_hint: AtomicUsize::new(0),
        }
    }

    /// Reserve room for `records` records of `bytes` bytes, all or nothing.
    pub(crate) fn try_reserve(
        self: &Arc<Self>,
        records: usize,
        bytes: usize,
    ) -> Result<Permit, ReserveError> {
        if records > self.max_records || bytes > self.max_bytes {
            return Err(ReserveError::TooLarge);
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if used.records + records > self.max_records || used.bytes + bytes > self.max_bytes {
            return Err(ReserveError::Full);
        }
        used.records += records;
        used.bytes += bytes;
        self.records_hint.store(used.records, Ordering::Relaxed);
        Ok(Permit {
            capacity: self.clone(),
            records,
            bytes,
        })
    }

    fn release(&self, records: usize, bytes: usize) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        used.records = used.records.saturating_sub(records);
        used.bytes = used.bytes.saturating_sub(bytes);
        self.records_hint.store(used.records, Ordering::Relaxed);
    }

    /// Whether the queue is at (or within 1% of) its record or byte limit: new requests
    /// would most likely be refused, so receivers refuse before decoding and readiness fails.
    pub(crate) fn is_full(&self) -> bool {
        let used = *self.used.lock().unwrap_or_else(PoisonError::into_inner);
        used.records >= self.max_records - self.max_records / 100
            || used.bytes >= self.max_bytes - self.max_bytes / 100
    }

    /// Records held now (acknowledged, not yet delivered).
    pub(crate) fn used_records(&self) -> usize {
        self.records_hint.load(Ordering::Relaxed)
    }

    /// Bytes held now.
    pub(crate) fn used_bytes(&self) -> usize {
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

/// Reserved queue capacity; released when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    capacity: Arc<Capacity>,
    records: usize,
    bytes: usize,
}

impl Permit {
    /// Take over `other`'s reservation (when batches are merged).
    pub(crate) fn absorb(&mut self, mut other: Permit) {
        self.records += std::mem::take(&mut other.records);
        self.bytes += std::mem::take(&mut other.bytes);
    }

    pub(crate) fn records(&self) -> usize {
        self.records
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.records > 0 || self.bytes > 0 {
            self.capacity.release(self.records, self.bytes);
        }
    }
}

/// Redacted records of one signal, protobuf-encoded, with the capacity they hold.
#[derive(Debug)]
pub(crate) struct Batch {
    /// An encoded `Export*ServiceRequest`; concatenating two encodings merges the requests.
    pub(crate) encoded: Bytes,
    pub(crate) permit: Permit,
}

/// The per-signal channels from workers to exporters.
#[derive(Debug)]
pub(crate) struct Lanes {
    senders: [mpsc::UnboundedSender<Batch>; 3],
}

/// The exporters' ends of the lanes, indexed by [`Signal::index`].
pub(crate) type LaneReceivers = [mpsc::UnboundedReceiver<Batch>; 3];

impl Lanes {
    pub(crate) fn new() -> (Lanes, LaneReceivers) {
        let (l, lr) = mpsc::unbounded_channel();
        let (t, tr) = mpsc::unbounded_channel();
        let (m, mr) = mpsc::unbounded_channel();
        (Lanes { senders: [l, t, m] }, [lr, tr, mr])
    }

    /// Queue a batch. Fails only when the exporter is gone (its task ended abnormally);
    /// the batch is then handed back so the caller can report it instead of acknowledging.
    pub(crate) fn push(&self, signal: Signal, batch: Batch) -> Result<(), Batch> {
        self.senders[signal.index()].send(batch).map_err(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::serve::ByteSize;
    use std::num::NonZeroUsize;

    fn capacity(records: usize, bytes: u64) -> Arc<Capacity> {
        Arc::new(Capacity::new(&QueueConfig {
            max_records: NonZeroUsize::new(records).unwrap(),
            max_bytes: ByteSize(bytes),
        }))
    }

    #[test]
    fn reserve_until_full_then_release() {
        let c = capacity(10, 1000);
        let a = c.try_reserve(6, 100).unwrap();
        assert_eq!(c.try_reserve(5, 100).unwrap_err(), ReserveError::Full);
        let mut b = c.try_reserve(4, 100).unwrap();
        assert!(c.is_full());
        assert_eq!(c.used_records(), 10);
        b.absorb(a);
        assert_eq!(b.records(), 10);
        drop(b);
        assert_eq!(c.used_records(), 0);
        assert_eq!(c.used_bytes(), 0);
        assert!(!c.is_full());
    }

    #[test]
    fn bytes_bound_too_and_oversize_is_permanent() {
        let c = capacity(100, 1000);
        let _a = c.try_reserve(1, 900).unwrap();
        assert_eq!(c.try_reserve(1, 200).unwrap_err(), ReserveError::Full);
        assert_eq!(c.try_reserve(101, 1).unwrap_err(), ReserveError::TooLarge);
        assert_eq!(c.try_reserve(1, 1001).unwrap_err(), ReserveError::TooLarge);
    }
}
