//! The `caviard` binary: parses the command line and maps errors to exit codes.
use std::process::ExitCode;

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
