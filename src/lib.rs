//! caviard: a log-pipeline PII redaction engine and proxy.
//!
//! ```text
//! receivers -> decode (formats) -> bounded queue -> engine workers -> encode -> exporters
//! ```
//!
//! The [`engine`] finds personal data in a record and masks or pseudonymises it; it needs no
//! runtime and does no I/O. The `serve` feature adds the OTLP proxy around it.
#![deny(missing_docs)]
// One audited exception: the call of the AVX2 mask pass after run-time CPU detection
// (`engine/classify.rs`).
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod engine;
pub mod retention;
pub mod scan;
#[cfg(feature = "serve")]
pub mod serve;
