//! Command-line interface: one module per subcommand. The only place (with `main.rs`) that
//! uses `anyhow`; library errors are matched and reported here.

mod check;
mod patterns;
mod redact;
mod scan;
#[cfg(feature = "serve")]
mod serve;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

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
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
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
