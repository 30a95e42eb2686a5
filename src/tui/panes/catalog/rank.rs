//! The filter's fuzzy score, exactly as nucleo-matcher's `Pattern::score` gives it,
//! computed once per *shape* of a row instead of once per row.
//!
//! For a filter that is one plain word of two characters or more (the common case:
//! `sv`, `pay`; one character is cheaper to score directly), nucleo's
//! answer on an ASCII haystack depends only on where the word's characters are and on
//! the kind (lower-case letter, upper-case letter, digit) of every other character
//! between the first possible start of the match and its last possible end, plus the
//! character just before that start. Two rows whose haystacks agree on that — their
//! *shape* — get the same score. A short filter matches nearly every row, and rows
//! built the same way (`orders-api-00012 team-a billing service`) share a few hundred
//! shapes among thousands of rows: the shape is found with one pass over the bytes,
//! and nucleo runs only for a shape not seen yet in this keystroke.
//!
//! Anything else (a filter with syntax, several words, upper case, non-ASCII text, or
//! a non-ASCII haystack) is scored by nucleo directly, row by row.

use nucleo_matcher::pattern::Pattern;
use nucleo_matcher::{Matcher, Utf32Str};
use rustc_hash::FxHashMap;

/// Shape bytes for the characters that do not occur in the word: one per kind. Above
/// 0x7f, so they never equal a haystack's (ASCII) byte kept as itself.
const LOWER: u8 = 0x80;
const UPPER: u8 = 0x81;
const DIGIT: u8 = 0x82;
/// Marks a match that may start at the haystack's first byte (nucleo then uses its
/// initial character class instead of the byte before).
const AT_START: u8 = 0xff;

/// A filter that is one plain word, with what shaping a haystack against it needs.
pub(crate) struct Plain {
    needle: Vec<u8>,
    /// Each byte's shape: itself when it is (case-folded) one of the word's bytes or
    /// neither a letter nor a digit, else its kind.
    shape: [u8; 256],
}

impl Plain {
    /// `filter` as one plain word: ASCII lower-case letters, digits and punctuation
    /// that nucleo's pattern syntax gives no meaning (`!`, `^`, `'`, `$` and `\` do),
    /// without whitespace inside. `None` for anything else (scored row by row).
    pub(crate) fn parse(filter: &str) -> Option<Plain> {
        let word = filter.trim();
        let plain = |b: u8| {
            (b.is_ascii_lowercase() || b.is_ascii_digit() || b.is_ascii_punctuation())
                && !matches!(b, b'!' | b'^' | b'\'' | b'$' | b'\\')
        };
        if word.is_empty() || !word.bytes().all(plain) {
            return None;
        }
        let needle = word.as_bytes().to_vec();
        let mut shape = [0u8; 256];
        for (b, s) in (0u8..=255).zip(shape.iter_mut()) {
            let in_word = needle.contains(&b.to_ascii_lowercase());
            *s = if in_word {
                b
            } else if b.is_ascii_lowercase() {
                LOWER
            } else if b.is_ascii_uppercase() {
                UPPER
            } else if b.is_ascii_digit() {
                DIGIT
            } else {
                b
            };
        }
        Some(Plain { needle, shape })
    }

    /// The shape of `hay` (ASCII) into `out`; false when the word is not a
    /// subsequence of it (case folded), i.e. nucleo finds no match.
    ///
    /// As nucleo's prefilter: the match starts at the first occurrence of the word's
    /// first byte and ends after the last occurrence of its last byte; what lies
    /// outside is never looked at, except the byte before the start (its class).
    fn shape_of(&self, hay: &[u8], out: &mut Vec<u8>) -> bool {
        let needle = self.needle.as_slice();
        let last = needle[needle.len() - 1];
        let (mut next, mut start, mut end) = (0, 0, 0);
        for (i, &b) in hay.iter().enumerate() {
            let b = b.to_ascii_lowercase();
            if next < needle.len() && b == needle[next] {
                if next == 0 {
                    start = i;
                }
                next += 1;
            }
            if b == last {
                end = i + 1;
            }
        }
        if next < needle.len() {
            return false;
        }
        out.clear();
        out.push(match start.checked_sub(1) {
            Some(i) => self.shape[usize::from(hay[i])],
            None => AT_START,
        });
        out.extend(hay[start..end].iter().map(|&b| self.shape[usize::from(b)]));
        true
    }
}

/// One scoring thread's matcher and its scores by shape (for one filter at a time).
pub(crate) struct Scorer {
    pub(crate) matcher: Matcher,
    memo: FxHashMap<Box<[u8]>, u32>,
    key: Vec<u8>,
    buf: Vec<char>,
    /// Haystacks nucleo scored since the last [`Scorer::reset`] (the rest came from
    /// `memo`, or were rejected by their shape).
    pub(crate) computed: usize,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer {
            matcher: Matcher::new(nucleo_matcher::Config::DEFAULT),
            memo: FxHashMap::default(),
            key: Vec::new(),
            buf: Vec::new(),
            computed: 0,
        }
    }
}

impl Scorer {
    /// Forget the scores of the last filter (its allocation is kept).
    pub(crate) fn reset(&mut self) {
        self.memo.clear();
        self.computed = 0;
    }

    /// `pattern.score(hay)`, the same value: from the shape's score when `plain` is
    /// the pattern as one plain word and the haystack is ASCII, else from nucleo.
    pub(crate) fn score(
        &mut self,
        pattern: &Pattern,
        plain: Option<&Plain>,
        hay: &str,
    ) -> Option<u32> {
        // A haystack as long as the word is matched by nucleo as a whole (not
        // through its prefilter): scored directly, as is non-ASCII text. So is a word
        // of one character: nucleo finds it with one `memchr` pass, cheaper than
        // shaping the haystack.
        if let Some(plain) = plain
            && plain.needle.len() > 1
            && hay.is_ascii()
            && hay.len() != plain.needle.len()
        {
            if !plain.shape_of(hay.as_bytes(), &mut self.key) {
                return None;
            }
            if let Some(&score) = self.memo.get(self.key.as_slice()) {
                return Some(score);
            }
            self.computed += 1;
            let score = pattern.score(Utf32Str::Ascii(hay.as_bytes()), &mut self.matcher);
            // Matching is a subsequence test on ASCII text: nucleo agrees.
            let score = score?;
            self.memo.insert(self.key.as_slice().into(), score);
            return Some(score);
        }
        self.computed += 1;
        pattern.score(Utf32Str::new(hay, &mut self.buf), &mut self.matcher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nucleo_matcher::pattern::{CaseMatching, Normalization};
    use std::ops::Range;

    fn random_text(rng: &mut fastrand::Rng, alphabet: &[u8], lens: Range<usize>) -> String {
        let len = rng.usize(lens);
        (0..len)
            .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
            .collect()
    }

    /// On random haystacks (upper case, digits, delimiters, whitespace, non-ASCII
    /// ones, some as long as the word) and random filters (plain words, syntax,
    /// several words, upper case), the score is nucleo's, row by row.
    #[test]
    fn the_score_by_shape_is_nucleos_score() {
        let mut rng = fastrand::Rng::with_seed(16);
        let alphabet = b"abcsvxyz-_./:|,;0123 SVA";
        let mut scorer = Scorer::default();
        let mut direct = Matcher::new(nucleo_matcher::Config::DEFAULT);
        let mut buf = Vec::new();
        let (mut plain_filters, mut matched) = (0, 0);
        for round in 0..400 {
            let filter = match round % 8 {
                0 => random_text(&mut rng, b"sv", 1..2),
                1..=4 => random_text(&mut rng, b"abcsv-0.:", 1..4),
                5 => format!("{} ", random_text(&mut rng, b"svx-1/", 1..6)),
                6 => random_text(&mut rng, b"sS!^$' v\\", 1..4),
                _ => random_text(&mut rng, b"ab\xc3", 2..3),
            };
            let pattern = Pattern::parse(&filter, CaseMatching::Smart, Normalization::Smart);
            let plain = Plain::parse(&filter);
            plain_filters += usize::from(plain.is_some());
            scorer.reset();
            for _ in 0..200 {
                let mut hay = random_text(&mut rng, alphabet, 0..30);
                match rng.usize(..20) {
                    0 => hay.push('é'),
                    1 => hay = filter.trim().to_string(),
                    2 => hay = format!("{}{hay}", filter.trim()),
                    _ => {}
                }
                let want = pattern.score(Utf32Str::new(&hay, &mut buf), &mut direct);
                let got = scorer.score(&pattern, plain.as_ref(), &hay);
                assert_eq!(got, want, "filter {filter:?}, haystack {hay:?}");
                matched += usize::from(want.is_some());
            }
        }
        assert!(plain_filters > 150, "{plain_filters} plain filters");
        assert!(matched > 5_000, "{matched} matches");
    }

    /// Rows built alike share shapes: nucleo scores a few hundred of 10,000.
    #[test]
    fn rows_built_alike_are_scored_once_per_shape() {
        let words = ["orders", "billing", "ledger", "search", "cart", "identity"];
        let kinds = ["api", "worker", "sync", "gateway"];
        let hays: Vec<String> = (0..10_000)
            .map(|i| {
                format!(
                    "{}-{}-{i:05} team-{} {} service",
                    words[i % words.len()],
                    kinds[i % kinds.len()],
                    ["a", "bb"][i % 2],
                    words[(i / 7) % words.len()],
                )
            })
            .collect();
        let mut scorer = Scorer::default();
        let mut direct = Matcher::new(nucleo_matcher::Config::DEFAULT);
        let mut buf = Vec::new();
        for filter in ["s", "sv", "svc", "ord", "bi-1"] {
            // One character is scored directly, every row.
            let most = if filter.len() == 1 { hays.len() } else { 500 };
            let pattern = Pattern::parse(filter, CaseMatching::Smart, Normalization::Smart);
            let plain = Plain::parse(filter);
            scorer.reset();
            let mut matched = 0;
            for hay in &hays {
                let got = scorer.score(&pattern, plain.as_ref(), hay);
                let want = pattern.score(Utf32Str::new(hay, &mut buf), &mut direct);
                assert_eq!(got, want, "{filter:?} on {hay:?}");
                matched += usize::from(got.is_some());
            }
            assert!(matched > 0, "{filter:?} matches");
            assert!(
                scorer.computed <= most,
                "{filter:?}: nucleo scored {} of {matched} matches",
                scorer.computed
            );
        }
    }
}
