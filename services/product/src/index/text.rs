//! Text analysis of the search index: words are runs of letters and digits, lowercased; English
//! fields drop stop words and are stemmed (Snowball, as PostgreSQL's `english` configuration
//! does); brand and SKUs are kept as written (`simple`). A query word matches a term exactly,
//! with typos (edit distance 1 from 4 letters, 2 from 8, transpositions counting one) or, for
//! the last word of the query, as a prefix (search as you type).

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// PostgreSQL's English stop words (the Snowball list).
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "s",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Longest word indexed or searched, in characters (longer ones are cut).
const WORD_MAX: usize = 64;

/// The words of `text`, lowercased.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.chars()
                .take(WORD_MAX)
                .flat_map(char::to_lowercase)
                .collect()
        })
}

pub fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

/// The English stem of a lowercased word.
pub fn stem(w: &str) -> String {
    ENGLISH.stem(w).into_owned()
}

/// The terms of an English field: words without stop words, stemmed.
pub fn english(text: &str) -> impl Iterator<Item = String> + '_ {
    english_words(text).map(|(_, t)| t)
}

/// The words of an English field without stop words, each with its term (its stem).
pub fn english_words(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    words(text).filter(|w| !is_stop_word(w)).map(|w| {
        let t = stem(&w);
        (w, t)
    })
}

/// The terms of a field kept as written (brand, SKU): its words, and the whole value when it
/// has several (so `TRL-RUN-42` is found as written too).
pub fn simple(text: &str) -> Vec<String> {
    let mut out: Vec<String> = words(text).collect();
    let whole: String = text
        .trim()
        .chars()
        .take(WORD_MAX)
        .flat_map(char::to_lowercase)
        .collect();
    if out.len() > 1 && !whole.chars().any(char::is_whitespace) {
        out.push(whole);
    }
    out
}

/// Edits a query word of `len` characters may have and still match.
pub fn typos_allowed(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// The optimal-string-alignment distance between `a` and `b` if it is at most `max`.
pub fn distance_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let n = b.len();
    let mut prev2: Vec<usize> = vec![0; n + 1];
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut cur: Vec<usize> = vec![0; n + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[n] <= max).then_some(prev[n])
}

/// One group of a parsed query: every word must match (`-word` excludes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    /// Lowercased words (stop words dropped unless the group has nothing else).
    pub words: Vec<String>,
    /// Lowercased words a match must not contain.
    pub excluded: Vec<String>,
}

/// Parses a query as web search boxes read it: words are all required, `or` between words
/// makes alternatives, `-word` excludes a word; quotes are ignored.
pub fn parse(query: &str) -> Vec<Group> {
    let mut groups = vec![Group::default()];
    for raw in query.split_whitespace() {
        if raw.eq_ignore_ascii_case("or") {
            if groups.last().is_some_and(|g| !g.words.is_empty()) {
                groups.push(Group::default());
            }
            continue;
        }
        let (negated, raw) = match raw.strip_prefix('-') {
            Some(rest) if !rest.is_empty() => (true, rest),
            _ => (false, raw),
        };
        let g = groups.last_mut().expect("one group at least");
        for w in words(raw) {
            if negated {
                g.excluded.push(w);
            } else {
                g.words.push(w);
            }
        }
    }
    groups.retain(|g| !g.words.is_empty());
    for g in &mut groups {
        let kept: Vec<String> = g
            .words
            .iter()
            .filter(|w| !is_stop_word(w))
            .cloned()
            .collect();
        if !kept.is_empty() {
            g.words = kept;
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_stop_word("the") && !is_stop_word("lantern"));
    }

    #[test]
    fn english_fields_are_stemmed_without_stop_words() {
        let t: Vec<String> = english("The Running Shoes, for trails!").collect();
        assert_eq!(t, ["run", "shoe", "trail"]);
        assert_eq!(simple("TRL-RUN-42"), ["trl", "run", "42", "trl-run-42"]);
        assert_eq!(simple("Zeta"), ["zeta"]);
    }

    #[test]
    fn distances_are_bounded() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(distance_within(&c("sneeker"), &c("sneaker"), 1), Some(1));
        assert_eq!(distance_within(&c("lether"), &c("leather"), 1), Some(1));
        assert_eq!(
            distance_within(&c("shoe"), &c("hsoe"), 1),
            Some(1),
            "a transposition"
        );
        assert_eq!(distance_within(&c("zzzqqqxx"), &c("lantern"), 2), None);
        assert_eq!(distance_within(&c("abc"), &c("abcdef"), 2), None);
        assert_eq!(distance_within(&c("same"), &c("same"), 0), Some(0));
    }

    #[test]
    fn queries_parse_into_groups() {
        assert_eq!(
            parse("red shoes -leather or \"blue socks\""),
            [
                Group {
                    words: vec!["red".into(), "shoes".into()],
                    excluded: vec!["leather".into()],
                },
                Group {
                    words: vec!["blue".into(), "socks".into()],
                    excluded: vec![],
                },
            ]
        );
        assert_eq!(parse("the lantern")[0].words, ["lantern"]);
        assert_eq!(parse("the")[0].words, ["the"], "only stop words: kept");
        assert!(parse("  or -x ").is_empty());
    }
}
