//! `caviard scan`: a discovery report over existing log files, before redaction is switched
//! on: a table on the terminal and, with `--html`, a single self-contained HTML file.
//!
//! Every category is masked for the scan whatever the policy's actions say, so examples show
//! `[EMAIL]`, never a partial value or a pseudonym. A progress bar is drawn on stderr when it
//! is a terminal and the input is large.

use anyhow::Context;
use clap::Args;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::engine::{Action, Format};
use crate::scan::{render_html, render_table, Scanner};

/// Inputs above this size get a progress bar.
const PROGRESS_ABOVE: u64 = 8 << 20;

/// Arguments of `caviard scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Configuration file (its policy's packs, keys and disabled rules); the built-in policy
    /// without it. Actions are ignored: the scan masks everything.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Also write a self-contained HTML report (no network access needed to open it).
    #[arg(long, value_name = "REPORT.html")]
    html: Option<PathBuf>,
    /// Never draw the progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Log files to scan (`-` for stdin).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Scan the files, print the table, write the HTML report.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let mut config = super::load_config(args.config.as_deref())?;
    let policy = &mut config.policy;
    policy.default_action = Action::Mask;
    policy.actions.clear();
    policy.rule_actions.clear();
    policy.pseudonym = None;
    let redactor = super::build_redactor(&config, 1)?;
    let max_line = config.input.max_line_bytes.max(1024);
    let total: u64 = args
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(total, args.no_progress);
    let mut scanner = Scanner::new(&redactor, Format::Auto);
    let mut buf = Vec::with_capacity(4096);
    for path in &args.files {
        let name = path.display().to_string();
        let mut input: Box<dyn BufRead> = if name == "-" {
            Box::new(BufReader::new(io::stdin()))
        } else {
            let f = File::open(path).with_context(|| format!("opening {name}"))?;
            Box::new(BufReader::with_capacity(1 << 17, f))
        };
        while let Some(read) =
            read_line(&mut input, &mut buf, max_line).with_context(|| format!("reading {name}"))?
        {
            scanner.line(&name, &buf);
            if let Some(b) = &bar {
                b.inc(read as u64);
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = scanner.finish();
    let mut out = super::stdout();
    // The table goes first, as before; a closed stdout still gets the HTML file written (the
    // error is returned after it, and `cli::run` ends quietly on it).
    let table = out
        .write_all(render_table(&report).as_bytes())
        .and_then(|()| out.flush());
    if let Some(path) = &args.html {
        let title = args
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(path, render_html(&report, &title))
            .with_context(|| format!("writing {}", path.display()))?;
        if table.is_ok() {
            writeln!(out, "\nHTML report: {}", path.display())?;
        }
    }
    table?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(total: u64, disabled: bool) -> Option<indicatif::ProgressBar> {
    if disabled || total < PROGRESS_ABOVE {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} scanning [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// Read one line (without its newline) into `buf`, keeping at most `max` bytes of it; the rest
/// of a longer line is skipped. Returns the bytes consumed, `None` at end of input.
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<usize>> {
    buf.clear();
    let mut consumed = 0usize;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((consumed > 0).then_some(consumed));
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&avail[..take.min(room)]);
        let used = take + usize::from(done);
        r.consume(used);
        consumed += used;
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(consumed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let mut r = io::Cursor::new(b"short\r\nloooooooong\nlast".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), Some(7));
        assert_eq!(buf, b"shor");
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), Some(12));
        assert_eq!(buf, b"looo");
        assert_eq!(read_line(&mut r, &mut buf, 100).unwrap(), Some(4));
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut r, &mut buf, 100).unwrap(), None);
    }
}
