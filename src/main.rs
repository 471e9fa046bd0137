//! The `caviard` binary: parses the command line and maps errors to exit codes.
use std::process::ExitCode;

fn main() -> ExitCode {
    match caviard::cli::run() {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("caviard: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed stdout (`caviard redact big.log | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
