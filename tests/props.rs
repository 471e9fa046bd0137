//! Property tests: redaction never panics, clean lines are untouched, line counts hold.
mod util;

use caviard::engine::{Format, Redactor, Scratch, Summary};
use proptest::prelude::*;
use std::sync::OnceLock;

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| Redactor::builtin().unwrap())
}

/// Tokens that look like PII to a naive matcher but are not: ids, hashes, times, versions,
/// private addresses, words. Any line made of them must come out byte-identical.
fn clean_token() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "[0-9a-f]{32}",
        "[0-9a-f]{40}",
        "sha256:[0-9a-f]{64}",
        "20[12][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z",
        "v?[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        "[0-9]{1,3}(ms|s|m|µs|KiB|MB)",
        "10\\.[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        "192\\.168\\.[0-9]{1,2}\\.[0-9]{1,3}",
        "[a-z]{3,9}-[a-z0-9]{10}-[a-z0-9]{5}",
        "(level|status|count|retries)=[0-9]{1,3}",
        "[A-Za-zéüß]{1,12}",
        "/[a-z]{2,8}/[a-z]{2,8}\\.(py|go|rs)",
        "@(timestamp|version|Override)",
        "(GET|POST) /api/v[12]/[a-z]{3,8}",
        "1[67][0-9]{11}",
        "(order|invoice)_id=[1-9][0-9]{5,9}",
    ]
}

fn clean_line() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            clean_token(),
            prop_oneof![Just(" "), Just(", "), Just(" | "), Just("\t")],
        ),
        0..24,
    )
    .prop_map(|v| v.into_iter().map(|(t, s)| t + s).collect::<String>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_bytes(line in prop::collection::vec(any::<u8>(), 0..600), json in any::<bool>()) {
        let (mut s, mut sum, mut out) = (Scratch::default(), Summary::default(), Vec::new());
        let fmt = if json { Format::Json } else { Format::Auto };
        redactor().redact_into(&line, fmt, &mut s, &mut sum, &mut out);
    }

    #[test]
    fn never_panics_on_pii_shaped_noise(line in "[0-9a-zA-Z@:.%+\\-\"{}=, \\\\/()]{0,300}") {
        let (mut s, mut sum, mut out) = (Scratch::default(), Summary::default(), Vec::new());
        redactor().redact_into(line.as_bytes(), Format::Auto, &mut s, &mut sum, &mut out);
    }

    #[test]
    fn clean_lines_are_byte_identical(line in clean_line()) {
        let (mut s, mut sum) = (Scratch::default(), Summary::default());
        let out = redactor().redact_line(line.as_bytes(), Format::Auto, &mut s, &mut sum);
        prop_assert_eq!(String::from_utf8_lossy(&out), line.as_str());
        prop_assert!(matches!(out, std::borrow::Cow::Borrowed(_)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn output_line_count_equals_input_line_count(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 1..40)) {
        let input: Vec<u8> = chunks.join(&b'\n');
        let expected = input.split(|&b| b == b'\n').count() - usize::from(input.last() == Some(&b'\n'));
        let expected = if input.is_empty() { 0 } else { expected };
        let out = util::redact(&["--threads", "2"], &input);
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), expected);
    }
}
