//! `caviard check`: validate a configuration file.

use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `caviard check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file to validate.
    #[arg(long, short)]
    config: PathBuf,
}

/// Load the file, run every validation, print every problem.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = match crate::config::Config::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", args.config.display());
            return Ok(ExitCode::from(1));
        }
    };
    let problems = config.validate();
    if problems.is_empty() {
        let mut out = super::stdout();
        writeln!(out, "{}: ok", args.config.display())?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("{}: {p}", args.config.display());
        }
        Ok(ExitCode::from(1))
    }
}
