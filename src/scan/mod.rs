//! Discovery over existing logs: which categories of personal data appear, how often, in
//! which sources and services, with masked examples. What `caviard scan` prints before
//! redaction is switched on.
//!
//! Every line goes through the same engine as `caviard redact`, with every action forced to
//! `mask` by the caller, and only the engine's output is kept: counts from the [`Summary`],
//! service names and examples cut from the *redacted* line around a category marker
//! (`…order for [EMAIL] failed…`). No original value enters the [`ScanReport`], so neither
//! the terminal table nor the HTML report can show one. What the engine does not detect stays
//! in the example context as it was: the report shows what redaction would leave.
//!
//! Memory is bounded: at most [`MAX_EXAMPLES`] examples per category, [`MAX_KEYS`] sources
//! and services (more are counted under `(other)`).

mod html;

pub use html::render_html;

use crate::engine::{Format, Redactor, Scratch, Summary};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Examples kept per category.
pub const MAX_EXAMPLES: usize = 3;
/// Distinct sources or services tracked; the rest are counted under `(other)`.
pub const MAX_KEYS: usize = 200;
/// Bytes of context kept on each side of a marker in an example.
const CONTEXT: usize = 60;

/// What one category looks like across the scanned logs.
#[derive(Debug, Default, Clone)]
pub struct CategoryStats {
    /// Values found.
    pub count: u64,
    /// Lines with at least one.
    pub lines: u64,
    /// Values per source (file).
    pub by_source: BTreeMap<String, u64>,
    /// Values per service (from `service.name`, `service`, `app` fields or a syslog tag).
    pub by_service: BTreeMap<String, u64>,
    /// Redacted excerpts around the category's marker.
    pub examples: Vec<String>,
}

/// Totals of one source.
#[derive(Debug, Default, Clone, Copy)]
pub struct SourceStats {
    /// Lines read.
    pub lines: u64,
    /// Lines with something to redact.
    pub lines_with_findings: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// The aggregated result of a scan: counts, names and redacted excerpts only.
#[derive(Debug, Default, Clone)]
pub struct ScanReport {
    /// Per category, by name.
    pub categories: BTreeMap<String, CategoryStats>,
    /// Per source, by name.
    pub sources: BTreeMap<String, SourceStats>,
    /// Values found per rule id.
    pub rules: BTreeMap<String, u64>,
}

impl ScanReport {
    /// Lines read, all sources.
    pub fn lines(&self) -> u64 {
        self.sources.values().map(|s| s.lines).sum()
    }
    /// Lines with something to redact, all sources.
    pub fn lines_with_findings(&self) -> u64 {
        self.sources.values().map(|s| s.lines_with_findings).sum()
    }
    /// Values found, all categories.
    pub fn findings(&self) -> u64 {
        self.categories.values().map(|c| c.count).sum()
    }
    /// Categories by descending count.
    pub fn ranked(&self) -> Vec<(&str, &CategoryStats)> {
        let mut v: Vec<_> = self
            .categories
            .iter()
            .map(|(k, c)| (k.as_str(), c))
            .collect();
        v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        v
    }
}

/// Feeds lines through the engine and aggregates the report. One per thread.
#[derive(Debug)]
pub struct Scanner<'r> {
    redactor: &'r Redactor,
    format: Format,
    scratch: Scratch,
    summary: Summary,
    report: ScanReport,
}

impl<'r> Scanner<'r> {
    /// A scanner over `redactor`, which should mask every category (the caller forces it) so
    /// that examples show markers, never partial values or pseudonyms.
    pub fn new(redactor: &'r Redactor, format: Format) -> Scanner<'r> {
        Scanner {
            redactor,
            format,
            scratch: Scratch::default(),
            summary: Summary::default(),
            report: ScanReport::default(),
        }
    }

    /// Scan one line (without its newline) read from `source`.
    pub fn line(&mut self, source: &str, line: &[u8]) {
        self.summary.clear();
        let out =
            self.redactor
                .redact_line(line, self.format, &mut self.scratch, &mut self.summary);
        let src = bounded_entry(&mut self.report.sources, source);
        src.lines += 1;
        src.bytes += line.len() as u64 + 1;
        if self.summary.total() == 0 {
            return;
        }
        src.lines_with_findings += 1;
        let redacted = String::from_utf8_lossy(&out);
        let service = service_of(&redacted);
        for (cat, n) in self.summary.categories() {
            let stats = self.report.categories.entry(cat.to_string()).or_default();
            stats.count += u64::from(n);
            stats.lines += 1;
            *bounded_entry(&mut stats.by_source, source) += u64::from(n);
            if let Some(s) = &service {
                *bounded_entry(&mut stats.by_service, s) += u64::from(n);
            }
            if stats.examples.len() < MAX_EXAMPLES {
                let ex = excerpt(&redacted, &marker(cat));
                if !stats.examples.contains(&ex) {
                    stats.examples.push(ex);
                }
            }
        }
        for (rule, n) in self.summary.rules() {
            *self.report.rules.entry(rule.to_string()).or_default() += u64::from(n);
        }
    }

    /// The report so far.
    pub fn report(&self) -> &ScanReport {
        &self.report
    }

    /// The final report.
    pub fn finish(self) -> ScanReport {
        self.report
    }
}

/// The engine's mask marker of a category.
fn marker(category: &str) -> String {
    format!("[{}]", category.to_ascii_uppercase())
}

fn bounded_entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) && map.len() >= MAX_KEYS {
        return map.entry("(other)".to_string()).or_default();
    }
    map.entry(key.to_string()).or_default()
}

/// Up to [`CONTEXT`] bytes each side of the first `marker` in the redacted line.
fn excerpt(redacted: &str, marker: &str) -> String {
    let at = redacted.find(marker).unwrap_or(0);
    let mut start = at.saturating_sub(CONTEXT);
    while !redacted.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + marker.len() + CONTEXT).min(redacted.len());
    while !redacted.is_char_boundary(end) {
        end += 1;
    }
    let mut s = String::with_capacity(end - start + 8);
    if start > 0 {
        s.push('…');
    }
    s.push_str(redacted[start..end].trim_end_matches(['\r', '\n']));
    if end < redacted.len() {
        s.push('…');
    }
    s
}

/// The service a redacted line names: a `service.name` / `service` / `app` JSON or logfmt
/// field, else a syslog tag (`host app[123]: ...`).
fn service_of(line: &str) -> Option<String> {
    for key in ["service.name", "service", "app", "application"] {
        if let Some(v) = json_string(line, key).or_else(|| logfmt_value(line, key)) {
            return Some(v.into_owned());
        }
    }
    syslog_tag(line).map(str::to_string)
}

fn json_string<'a>(line: &'a str, key: &str) -> Option<Cow<'a, str>> {
    let pat = format!("\"{key}\"");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let end = rest.find('"')?;
    clean(&rest[..end])
}

fn logfmt_value<'a>(line: &'a str, key: &str) -> Option<Cow<'a, str>> {
    let pat = format!("{key}=");
    let mut from = 0;
    while let Some(i) = line[from..].find(&pat) {
        let at = from + i;
        if at == 0 || line.as_bytes()[at - 1] == b' ' {
            let rest = &line[at + pat.len()..];
            let rest = rest.strip_prefix('"').unwrap_or(rest);
            let end = rest.find([' ', '"']).unwrap_or(rest.len());
            return clean(&rest[..end]);
        }
        from = at + pat.len();
    }
    None
}

/// `... host app[pid]: message` (RFC 3164) -> `app`.
fn syslog_tag(line: &str) -> Option<&str> {
    let colon = line.find("]: ")?;
    let open = line[..colon].rfind('[')?;
    if !line[open + 1..colon].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let start = line[..open].rfind(' ').map_or(0, |i| i + 1);
    let tag = &line[start..open];
    (!tag.is_empty() && tag.len() <= 48).then_some(tag)
}

/// A plausible service name: short, no marker, printable.
fn clean(v: &str) -> Option<Cow<'_, str>> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && !v.contains('[')
        && v.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(Cow::Borrowed(v))
}

/// The report as a plain-text table for the terminal.
pub fn render_table(report: &ScanReport) -> String {
    let mut out = String::new();
    let lines = report.lines();
    let hit = report.lines_with_findings();
    let pct = if lines == 0 {
        0.0
    } else {
        hit as f64 * 100.0 / lines as f64
    };
    let _ = writeln!(
        out,
        "{lines} lines in {} source(s); {hit} ({pct:.1}%) contain personal data; {} values found.\n",
        report.sources.len(),
        report.findings()
    );
    if report.categories.is_empty() {
        out.push_str("No personal data found.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<22} {:>9} {:>9}  {:<28} TOP SERVICES",
        "CATEGORY", "VALUES", "LINES", "TOP SOURCES"
    );
    for (name, c) in report.ranked() {
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>9}  {:<28} {}",
            name,
            c.count,
            c.lines,
            top(&c.by_source, 2),
            top(&c.by_service, 3)
        );
    }
    out.push_str("\nMasked examples (the redacted line around the value):\n");
    for (name, c) in report.ranked() {
        for ex in &c.examples {
            let _ = writeln!(out, "  {name:<20} {ex}");
        }
    }
    out
}

/// `a (12), b (3)`: the `n` largest entries.
fn top(map: &BTreeMap<String, u64>, n: usize) -> String {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = v
        .iter()
        .take(n)
        .map(|(k, c)| format!("{} ({c})", short(k)))
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(", ")
    }
}

/// The file name of a path, for the table.
fn short(source: &str) -> &str {
    source.rsplit('/').next().unwrap_or(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_and_services() {
        let r = Redactor::builtin().unwrap();
        let mut s = Scanner::new(&r, Format::Auto);
        s.line(
            "app.log",
            br#"{"service.name":"checkout","msg":"mail jean.dupont@example.fr"}"#,
        );
        s.line(
            "syslog",
            b"Mar  1 10:00:00 host sshd[42]: login from jean.dupont@example.fr",
        );
        s.line("app.log", b"service=billing phone 06 12 34 56 78");
        s.line("app.log", b"nothing here");
        let rep = s.finish();
        assert_eq!(rep.lines(), 4);
        assert_eq!(rep.lines_with_findings(), 3);
        let email = &rep.categories["email"];
        assert_eq!(email.count, 2);
        assert_eq!(email.by_service["checkout"], 1);
        assert_eq!(email.by_service["sshd"], 1);
        assert_eq!(rep.categories["phone"].by_service["billing"], 1);
        assert!(
            email.examples[0].contains("[EMAIL]"),
            "{:?}",
            email.examples
        );
        let all = format!("{rep:?}{}", render_table(&rep));
        for v in ["jean.dupont", "example.fr", "12 34 56"] {
            assert!(!all.contains(v), "{v} in {all}");
        }
    }

    #[test]
    fn excerpt_cuts_at_char_boundaries() {
        let line = format!("{}[EMAIL]{}", "é".repeat(80), "ü".repeat(80));
        let ex = excerpt(&line, "[EMAIL]");
        assert!(ex.starts_with('…') && ex.ends_with('…') && ex.contains("[EMAIL]"));
        assert_eq!(syslog_tag("h app[x]: m"), None);
        assert_eq!(
            logfmt_value("myapp=x app=shop", "app").as_deref(),
            Some("shop")
        );
    }
}
