//! The `caviard` binary: parses the command line and maps errors to exit codes.
use std::process::ExitCode;

/// mimalloc, not glibc's allocator: decoding an OTLP request allocates a `String` or `Vec` per
/// field and frees them all after encoding, which made malloc and free a third of `serve`'s
/// CPU time (`perf`, OTLP/HTTP passthrough). Built with lazy arena commit
/// (`.cargo/config.toml`), so resident memory stays where glibc's left it. The binary chooses
/// the allocator, not the library: `tests/alloc.rs` installs a counting one of its own.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A closed stdout is handled in `cli::run` (exits quietly, see `cli::Stdout`).
    match caviard::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("caviard: {err:#}");
            ExitCode::from(2)
        }
    }
}
