//! `caviard patterns`: test pattern packs against their own examples.

use clap::Subcommand;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::PolicyConfig;
use crate::engine::Redactor;

/// Pattern pack subcommands.
#[derive(Debug, Subcommand)]
pub enum PatternsCommand {
    /// Run every must-match and must-not-match example of the packs.
    Test {
        /// A pack file or a directory of packs; without it, the built-in packs.
        #[arg(long)]
        patterns: Option<PathBuf>,
    },
    /// List the rules of the built-in packs (or of `--patterns`).
    List {
        /// A pack file or a directory of packs.
        #[arg(long)]
        patterns: Option<PathBuf>,
    },
}

fn redactor_for(patterns: Option<PathBuf>) -> anyhow::Result<Redactor> {
    let policy = PolicyConfig {
        builtin_packs: patterns.is_none(),
        packs: patterns.into_iter().collect(),
        ..PolicyConfig::default()
    };
    Redactor::from_config(&policy).map_err(|e| anyhow::anyhow!("{}", e.problems().join("\n")))
}

/// Run a patterns subcommand.
pub fn run(cmd: PatternsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PatternsCommand::Test { patterns } => {
            let r = redactor_for(patterns)?;
            let failures = r.test_examples();
            let (rules, keys) = r.rule_counts();
            let verdict = if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
            let mut out = super::stdout();
            let written = (|| -> io::Result<()> {
                for f in &failures {
                    writeln!(out, "FAIL {f}")?;
                }
                writeln!(
                    out,
                    "{} rules, {} key rules, {} examples, {} failures",
                    rules,
                    keys,
                    r.example_count(),
                    failures.len()
                )?;
                out.flush()
            })();
            match written {
                // A closed stdout does not change the verdict (see `cli::Stdout`).
                Err(e) if !super::StdoutClosed::is(&e) => Err(e.into()),
                _ => Ok(verdict),
            }
        }
        PatternsCommand::List { patterns } => {
            let r = redactor_for(patterns)?;
            let mut out = super::stdout();
            for line in r.describe_rules() {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
