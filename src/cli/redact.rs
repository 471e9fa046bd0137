//! `caviard redact`: the command-line filter.
//!
//! Writes exactly one output line per input line, in order. Lines are read with a bound
//! (`input.max_line_bytes`): a longer line is cut at a whitespace near the bound and marked,
//! so a 10 GB line without a newline cannot exhaust memory. With `--threads N > 1`, a reader
//! thread cuts the input into chunks of whole lines, N workers redact chunks, and the writer
//! puts them back in order.
//!
//! With `--tag`, each JSON-object line (logfmt line with `--format logfmt`) also gets its
//! retention class and what was redacted in it, as `caviard serve` writes them on OTLP
//! records ([`LineTagger`]); without it, no line is looked at twice.

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use crate::config::InputConfig;
use crate::engine::{Format, Redactor, Scratch, Summary};
use crate::retention::{LineScratch, LineTagger};

/// Arguments of `caviard redact`.
#[derive(Debug, Args)]
pub struct RedactArgs {
    /// Configuration file (policy and input limits); the built-in policy without it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// How to read each line.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    format: FormatArg,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print counts per category to stderr at the end (never values).
    #[arg(long)]
    summary: bool,
    /// Tag each JSON (or logfmt) line with its retention class, its days and what was redacted
    /// in it (counts and categories, never values), as `caviard serve` tags OTLP records.
    ///
    /// A line that is a JSON object gets the members `"retention.class"`, `"retention.days"`
    /// and, when something was redacted in it, `"redaction.count"` and
    /// `"redaction.categories"`, after its last member (before its closing `}`); the rest of
    /// the line is unchanged. With `--format logfmt` they are appended as ` key=value` pairs.
    /// Keys, classes, rules and the summary mode come from the config's `retention:` and
    /// `audit:` sections (the built-in CNIL-derived policy without `--config`). Rules see the
    /// line after redaction; its receiver is `file`, its fields are its top-level members, its
    /// severity is read from `level`, `severity`, `lvl` or `log.level`. Members of those names
    /// already in the line are removed first, so a line carries one class, caviard's.
    ///
    /// Plain text lines (and lines that are not valid JSON, such as truncated ones) are left
    /// unchanged: there is no field to put the class in. Not allowed with `--format text`.
    #[arg(long)]
    tag: bool,
    /// Bytes of whole lines handed to a worker at a time (with --threads > 1).
    #[arg(long, default_value_t = 1 << 18, hide = true)]
    chunk_bytes: usize,
    /// Input files; stdin when none (or `-`).
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Auto,
    Text,
    Json,
    Logfmt,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Auto => Format::Auto,
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Logfmt => Format::Logfmt,
        }
    }
}

/// Run the filter.
pub fn run(args: RedactArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(args.config.as_deref())?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    if args.tag && matches!(args.format, FormatArg::Text) {
        anyhow::bail!("--tag needs JSON or logfmt lines: a text line has no field to put the retention class in");
    }
    let redactor = config.checked_redactor(threads).map_err(|problems| {
        anyhow::anyhow!("invalid configuration:\n  {}", problems.join("\n  "))
    })?;
    let tagger = if args.tag {
        let (policy, audit) = super::retention_and_audit(&config, &redactor)?;
        Some(LineTagger::new(policy, audit))
    } else {
        None
    };
    let input = open_inputs(&args.files)?;
    // A closed stdout ends the run through `cli::run`, quietly (see `cli::Stdout`).
    let mut out = super::stdout();
    let opts = Options {
        format: args.format.into(),
        limits: &config.input,
        tagger: tagger.as_ref(),
    };
    let (r, chunk) = (&redactor, args.chunk_bytes.max(1));
    // Tagging is a compile-time parameter: without `--tag` the loops are the plain filter's.
    let summary = match (threads, opts.tagger.is_some()) {
        (1, false) => redact_serial::<false>(r, input, &mut out, &opts)?,
        (1, true) => redact_serial::<true>(r, input, &mut out, &opts)?,
        (_, false) => redact_parallel::<false>(r, input, &mut out, &opts, threads, chunk)?,
        (_, true) => redact_parallel::<true>(r, input, &mut out, &opts, threads, chunk)?,
    };
    out.flush()?;
    if args.summary {
        let mut cats: Vec<_> = summary.categories().collect();
        cats.sort();
        for (name, n) in cats {
            eprintln!("{name}\t{n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct Options<'a> {
    format: Format,
    limits: &'a InputConfig,
    /// `--tag`.
    tagger: Option<&'a LineTagger>,
}

/// What a worker (or the serial loop) keeps from line to line.
#[derive(Default)]
struct Worker {
    scratch: Scratch,
    /// Every redaction of the run so far (`--summary`).
    summary: Summary,
    /// With `--tag`: the current line's redactions, then added to `summary`.
    record: Summary,
    line: LineScratch,
}

fn open_inputs(files: &[PathBuf]) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if files.is_empty() || (files.len() == 1 && files[0].as_os_str() == "-") {
        return Ok(Box::new(BufReader::with_capacity(1 << 17, io::stdin())));
    }
    let mut chain: Box<dyn Read + Send> = Box::new(io::empty());
    for f in files {
        let file = File::open(f).with_context(|| format!("opening {}", f.display()))?;
        chain = Box::new(chain.chain(EnsureNewline::new(file)));
    }
    Ok(Box::new(BufReader::with_capacity(1 << 17, chain)))
}

/// Appends a newline to a file that does not end with one, so files don't merge lines.
struct EnsureNewline<R> {
    inner: R,
    last: Option<u8>,
    done: bool,
}

impl<R> EnsureNewline<R> {
    fn new(inner: R) -> Self {
        EnsureNewline {
            inner,
            last: None,
            done: false,
        }
    }
}

impl<R: Read> Read for EnsureNewline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
            return Ok(n);
        }
        self.done = true;
        match self.last {
            Some(b) if b != b'\n' => {
                buf[0] = b'\n';
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Read one line (without its `\n`) into `buf`, keeping at most `max` bytes; returns `None` at
/// end of input, else the number of bytes cut.
fn read_bounded_line<R: BufRead + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    buf.clear();
    append_bounded_line(r, buf, max)
}

/// [`read_bounded_line`], appending the line to what `buf` already holds.
fn append_bounded_line<R: BufRead + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    let start = buf.len();
    let (mut cut, mut any) = (0usize, false);
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(any.then_some(cut));
        }
        any = true;
        let (take, found) = match memchr::memchr(b'\n', avail) {
            Some(p) => (p, true),
            None => (avail.len(), false),
        };
        let room = max.saturating_sub(buf.len() - start);
        buf.extend_from_slice(&avail[..take.min(room)]);
        cut += take.saturating_sub(room);
        r.consume(take + found as usize);
        if found {
            return Ok(Some(cut));
        }
    }
}

/// Cut a truncated line (the bytes of `line` from `start`) back to a whitespace near its end
/// (a value cut in half would escape its detector) and append the marker.
fn mark_truncated(line: &mut Vec<u8>, start: usize, marker: &str) {
    let tail = line.len().saturating_sub(256).max(start);
    if let Some(p) = line[tail..].iter().rposition(|b| b.is_ascii_whitespace()) {
        line.truncate(tail + p);
    } else {
        line.truncate(tail);
    }
    line.push(b' ');
    line.extend_from_slice(marker.as_bytes());
}

/// Redact one line into `out`, followed by `\n`; CRLF endings are kept. With `TAG` (and a
/// tagger in `opts`), the line is tagged too.
fn redact_one<const TAG: bool>(
    r: &Redactor,
    line: &[u8],
    opts: &Options,
    w: &mut Worker,
    out: &mut Vec<u8>,
) {
    let (body, cr) = match line.strip_suffix(b"\r") {
        Some(b) => (b, true),
        None => (line, false),
    };
    if let (true, Some(tagger)) = (TAG, opts.tagger) {
        let start = out.len();
        // `record` is all zeros here: only a line with a change adds to it, and it is cleared
        // below.
        let changed = r.redact_into(body, opts.format, &mut w.scratch, &mut w.record, out);
        tagger.tag(out, start, opts.format, &w.record, &mut w.line);
        if changed {
            w.summary.merge(&w.record);
            w.record.clear();
        }
    } else {
        r.redact_into(body, opts.format, &mut w.scratch, &mut w.summary, out);
    }
    if cr {
        out.push(b'\r');
    }
    out.push(b'\n');
}

fn redact_serial<const TAG: bool>(
    r: &Redactor,
    mut input: Box<dyn BufRead + Send>,
    out: &mut impl Write,
    opts: &Options,
) -> anyhow::Result<Summary> {
    let mut w = Worker::default();
    let (mut line, mut buf) = (Vec::new(), Vec::with_capacity(1 << 16));
    while let Some(cut) = read_bounded_line(&mut *input, &mut line, opts.limits.max_line_bytes)? {
        if cut > 0 {
            mark_truncated(&mut line, 0, &opts.limits.truncation_marker);
        }
        redact_one::<TAG>(r, &line, opts, &mut w, &mut buf);
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    Ok(w.summary)
}

fn redact_parallel<const TAG: bool>(
    r: &Redactor,
    mut input: Box<dyn BufRead + Send>,
    out: &mut impl Write,
    opts: &Options,
    threads: usize,
    chunk_bytes: usize,
) -> anyhow::Result<Summary> {
    let (chunk_tx, chunk_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads * 2);
    // Owned by the workers only: when they all stop (the writer has hung up after a write
    // error, a closed stdout), the receiver is dropped and a reader blocked on a full channel
    // wakes up and stops, instead of the scope waiting on it for ever.
    let chunk_rx = std::sync::Arc::new(std::sync::Mutex::new(chunk_rx));
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads * 2);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    // Written output buffers go back to the workers: fresh megabyte buffers cost a page fault
    // per 4 KiB, and with them the parallel filter spent more CPU than the serial one.
    let (spent_tx, spent_rx) = mpsc::channel::<Vec<u8>>();
    let spent_rx = std::sync::Mutex::new(spent_rx);
    std::thread::scope(|s| -> anyhow::Result<Summary> {
        let reader = s.spawn(move || -> io::Result<()> {
            let mut seq = 0u64;
            let mut chunk = Vec::with_capacity(chunk_bytes + 4096);
            // Lines are read straight into the chunk: one copy from the input buffer.
            loop {
                let start = chunk.len();
                let Some(cut) =
                    append_bounded_line(&mut *input, &mut chunk, opts.limits.max_line_bytes)?
                else {
                    break;
                };
                if cut > 0 {
                    mark_truncated(&mut chunk, start, &opts.limits.truncation_marker);
                }
                chunk.push(b'\n');
                if chunk.len() >= chunk_bytes {
                    let next = match free_rx.try_recv() {
                        Ok(mut recycled) => {
                            recycled.clear();
                            recycled
                        }
                        Err(_) => Vec::with_capacity(chunk_bytes + 4096),
                    };
                    if chunk_tx
                        .send((seq, std::mem::replace(&mut chunk, next)))
                        .is_err()
                    {
                        return Ok(());
                    }
                    seq += 1;
                }
            }
            if !chunk.is_empty() {
                let _ = chunk_tx.send((seq, chunk));
            }
            Ok(())
        });
        let mut workers = Vec::new();
        for _ in 0..threads {
            let (chunk_rx, done_tx, free_tx) = (
                std::sync::Arc::clone(&chunk_rx),
                done_tx.clone(),
                free_tx.clone(),
            );
            let spent_rx = &spent_rx;
            workers.push(s.spawn(move || {
                let mut w = Worker::default();
                loop {
                    let next = chunk_rx
                        .lock()
                        .map_err(|_| ())
                        .and_then(|rx| rx.recv().map_err(|_| ()));
                    let Ok((seq, chunk)) = next else { break };
                    let recycled = spent_rx.lock().ok().and_then(|rx| rx.try_recv().ok());
                    let mut buf = match recycled {
                        Some(mut b) => {
                            b.clear();
                            b
                        }
                        None => Vec::with_capacity(chunk.len() + chunk.len() / 8),
                    };
                    // Every line of a chunk ends with `\n` (the reader adds it); lines are
                    // cut with `memchr`, as the serial path reads them.
                    let mut start = 0;
                    for end in memchr::memchr_iter(b'\n', &chunk) {
                        redact_one::<TAG>(r, &chunk[start..end], opts, &mut w, &mut buf);
                        start = end + 1;
                    }
                    let _ = free_tx.send(chunk);
                    if done_tx.send((seq, buf)).is_err() {
                        break;
                    }
                }
                w.summary
            }));
        }
        drop(chunk_rx);
        drop(done_tx);
        drop(free_tx);
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        let mut write_err = None;
        for (seq, buf) in done_rx {
            pending.insert(seq, buf);
            while let Some(buf) = pending.remove(&next) {
                if write_err.is_none() {
                    write_err = out.write_all(&buf).err();
                }
                let _ = spent_tx.send(buf);
                next += 1;
            }
            if write_err.is_some() {
                break;
            }
        }
        let mut total = Summary::default();
        for w in workers {
            if let Ok(s) = w.join() {
                total.merge(&s);
            }
        }
        if let Some(e) = write_err {
            return Err(e.into());
        }
        match reader.join() {
            Ok(res) => res.context("reading input")?,
            Err(_) => anyhow::bail!("reader thread panicked"),
        }
        Ok(total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let data = b"short\nabcdefghij\n\nlast";
        let mut r = &data[..];
        let mut buf = Vec::new();
        assert_eq!(read_bounded_line(&mut r, &mut buf, 4).unwrap(), Some(1));
        assert_eq!(buf, b"shor");
        assert_eq!(read_bounded_line(&mut r, &mut buf, 4).unwrap(), Some(6));
        assert_eq!(buf, b"abcd");
        assert_eq!(read_bounded_line(&mut r, &mut buf, 4).unwrap(), Some(0));
        assert_eq!(buf, b"");
        assert_eq!(read_bounded_line(&mut r, &mut buf, 4).unwrap(), Some(0));
        assert_eq!(buf, b"last");
        assert_eq!(read_bounded_line(&mut r, &mut buf, 4).unwrap(), None);
    }

    #[test]
    fn truncation_cuts_at_whitespace() {
        let mut l = b"card 4111 1111 11".to_vec();
        mark_truncated(&mut l, 0, "[TRUNCATED]");
        assert_eq!(l, b"card 4111 1111 [TRUNCATED]");
        // Within a chunk, only the line's own bytes are cut back.
        let mut chunk = b"a b\ncard4111111111".to_vec();
        mark_truncated(&mut chunk, 4, "[T]");
        assert_eq!(chunk, b"a b\n [T]");
        let mut r = &b"abcdefgh\nxy\n"[..];
        let mut chunk = b"kept\n".to_vec();
        assert_eq!(append_bounded_line(&mut r, &mut chunk, 4).unwrap(), Some(4));
        assert_eq!(chunk, b"kept\nabcd");
    }
}
