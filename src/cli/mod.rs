//! Command-line interface: one module per subcommand. The only place (with `main.rs`) that
//! uses `anyhow`; library errors are matched and reported here.

mod check;
mod patterns;
mod redact;
#[cfg(feature = "serve")]
mod reload;
mod scan;
#[cfg(feature = "serve")]
mod serve;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::retention::{AuditSummary, RetentionPolicy};

/// caviard: redact personal data from logs before they leave the cluster.
#[derive(Debug, Parser)]
#[command(name = "caviard", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Redact log lines from files or stdin to stdout, one output line per input line.
    Redact(redact::RedactArgs),
    /// Work with pattern packs.
    #[command(subcommand)]
    Patterns(patterns::PatternsCommand),
    /// Validate a configuration file; exits non-zero naming every bad field.
    Check(check::CheckArgs),
    /// Report which categories of personal data existing logs contain (table, optional HTML).
    Scan(scan::ScanArgs),
    /// Run the OTLP proxy: receive OTLP (gRPC, HTTP), redact, forward upstream.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
}

/// Parse `std::env::args` and run the subcommand.
///
/// A closed stdout ends the command quietly with the status it would have had anyway (see
/// [`Stdout`]): `Ok(SUCCESS)` here, never an error message or a panic. Not `serve`'s: its
/// stdout is where records go when no upstream is set, a sink rather than a report whose
/// reader had enough, so losing it is a failure (`ServeError::StdoutClosed`, status 2).
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Err(e) if is_stdout_closed(&e) => Ok(ExitCode::SUCCESS),
        res => res,
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Redact(args) => redact::run(args),
        Command::Patterns(cmd) => patterns::run(cmd),
        Command::Check(args) => check::run(args),
        Command::Scan(args) => scan::run(args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => {
            let config = load_config(args.config.as_deref())?;
            serve::run(args, config).map(|()| ExitCode::SUCCESS)
        }
    }
}

/// Load the config file, or the defaults when none is given.
pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p).with_context(|| format!("loading {}", p.display())),
        None => Ok(Config::default()),
    }
}

/// Build the redactor of a config, compiling on `threads` threads, reporting every problem.
pub(crate) fn build_redactor(
    config: &Config,
    threads: usize,
) -> anyhow::Result<crate::engine::Redactor> {
    crate::engine::Redactor::from_config_threads(&config.policy, threads).map_err(|e| {
        let list = e.problems().join("\n  ");
        anyhow::anyhow!("invalid policy:\n  {list}")
    })
}

/// The retention policy (`None` with `retention.enabled: false`) and the redaction summary of a
/// config, as `serve` and `redact --tag` write them; every problem in one error.
pub(crate) fn retention_and_audit(
    config: &Config,
    redactor: &crate::engine::Redactor,
) -> anyhow::Result<(Option<RetentionPolicy>, AuditSummary)> {
    let categories: Vec<String> = redactor.categories().map(str::to_string).collect();
    let problems = crate::retention::problems(&config.retention, &config.audit, Some(&categories));
    if !problems.is_empty() {
        anyhow::bail!("invalid configuration:\n  {}", problems.join("\n  "));
    }
    let policy = if config.retention.enabled {
        let policy = RetentionPolicy::compile(&config.retention, Some(&categories))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Some(policy)
    } else {
        None
    };
    Ok((policy, AuditSummary::from_config(&config.audit)))
}

/// The standard output of a subcommand: locked once, buffered, with a closed pipe told apart.
///
/// Every subcommand writes its stdout through this writer, never with `println!` (which
/// panics on a closed pipe). Convention, as `rg` or `git log | head` behave: when the reader
/// of the output goes away (`caviard patterns list | head -1`), the command stops writing and
/// exits quietly with the status it would have had — 0, or the verdict it already reached
/// (`patterns test` with failing examples still exits 1) — not with SIGPIPE's 141 and never
/// with a message. Only stdout's errors are marked ([`StdoutClosed`], for the kinds
/// [`reader_gone`] names): a broken pipe elsewhere (an upstream socket) stays an error. What was written before is whole: bytes
/// reach the pipe in order, and nothing else (no error text) is written to stdout.
pub(crate) struct Stdout(BufWriter<io::StdoutLock<'static>>);

/// [`Stdout`], buffered by 128 KiB.
pub(crate) fn stdout() -> Stdout {
    Stdout(BufWriter::with_capacity(1 << 17, io::stdout().lock()))
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(mark_closed)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(mark_closed)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(mark_closed)
    }
}

/// The reader of stdout has gone away: the error a [`Stdout`] write returns when
/// [`reader_gone`].
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout closed")
    }
}

impl std::error::Error for StdoutClosed {}

impl StdoutClosed {
    /// Whether `e` is a write to a closed stdout.
    pub(crate) fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<StdoutClosed>())
    }
}

/// Whether a write error of this kind means the reader of the output is gone for good:
/// `BrokenPipe` (`EPIPE`: a pipe's reader exited; Rust ignores `SIGPIPE`), and when the output
/// is a socket, `ConnectionReset` (the peer reset the connection: the first write after the
/// reset reports `ECONNRESET`, later ones `EPIPE`) and `NotConnected` (the socket was shut
/// down or never connected). None of these can pass: no later write would succeed.
pub(crate) fn reader_gone(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected
    )
}

fn mark_closed(e: io::Error) -> io::Error {
    if reader_gone(e.kind()) && !StdoutClosed::is(&e) {
        io::Error::new(e.kind(), StdoutClosed)
    } else {
        e
    }
}

/// Whether an error (anywhere in its chain) is a write to a closed stdout.
fn is_stdout_closed(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<io::Error>().is_some_and(StdoutClosed::is))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket's reader that went away reports `ConnectionReset` or `NotConnected` rather
    /// than `BrokenPipe`; they end a command quietly all the same. Other errors (a full disk)
    /// stay errors.
    #[test]
    fn every_kind_of_gone_reader_marks_stdout_closed() {
        for kind in [
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::NotConnected,
        ] {
            let e = mark_closed(io::Error::from(kind));
            assert!(StdoutClosed::is(&e), "{kind:?}");
            assert_eq!(e.kind(), kind);
            assert!(is_stdout_closed(&anyhow::Error::new(e)), "{kind:?}");
        }
        for kind in [io::ErrorKind::StorageFull, io::ErrorKind::Other] {
            assert!(
                !StdoutClosed::is(&mark_closed(io::Error::from(kind))),
                "{kind:?}"
            );
        }
    }
}
