//! Sentence splitting, as Bergamot does it before translating (ssplit-cpp's paragraph mode):
//! a sentence ends after a run of `.`, `?` or `!` (plus closing quotes, brackets, final
//! punctuation and a footnote like `[12]`) that is followed by whitespace and then not by a
//! lowercase letter. Optional non-breaking prefixes (`Mr`, `Dr`...) keep a `.` from ending a
//! sentence before an uppercase letter; Bergamot's Firefox configuration uses none.
//!
//! Models trained on single sentences translate multi-sentence lines better one sentence at a
//! time, and doing exactly what Bergamot does makes tern's output comparable line for line.
//! Spans are byte ranges into the input, so the caller can keep the text between sentences.
// Bytes from a file or a user: no index may panic (clippy enforces it; tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use core::ops::Range;
use unicode_general_category::{get_general_category, GeneralCategory as G};

/// PCRE's `\s` without Unicode properties: ASCII whitespace including vertical tab.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn is_letter(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
    )
}

fn is_number(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::DecimalNumber | G::LetterNumber | G::OtherNumber
    )
}

fn is_mark(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::NonspacingMark | G::SpacingMark | G::EnclosingMark
    )
}

fn is_symbol(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::MathSymbol | G::CurrencySymbol | G::ModifierSymbol | G::OtherSymbol
    )
}

fn is_trailing(c: char) -> bool {
    matches!(c, '\'' | '"' | ')' | ']' | '’' | '”')
        || get_general_category(c) == G::FinalPunctuation
}

/// Byte length of a footnote marker `[<digits, commas, spaces>]` (at least two digits, starting
/// and ending with one) at the start of `s`, or 0.
fn footnote(s: &str) -> usize {
    let Some(body) = s.strip_prefix('[') else {
        return 0;
    };
    let Some(end) = body.find(|c: char| {
        !(c.is_ascii_digit()
            || get_general_category(c) == G::DecimalNumber
            || c == ','
            || is_space(c))
    }) else {
        return 0;
    };
    let inner = &body[..end];
    let digit = |c: Option<char>| c.is_some_and(|c| get_general_category(c) == G::DecimalNumber);
    if body[end..].starts_with(']')
        && inner.chars().count() >= 2
        && digit(inner.chars().next())
        && digit(inner.chars().last())
    {
        end + 2
    } else {
        0
    }
}

/// Iterator over the sentences of a paragraph, as byte ranges (trimmed of ASCII whitespace).
#[derive(Debug, Clone)]
pub struct Sentences<'t> {
    text: &'t str,
    pos: usize,
    prefixes: &'t [&'t str],
}

/// Splits `text` (one paragraph) into sentences without non-breaking prefixes (Bergamot's
/// default).
pub fn sentences(text: &str) -> Sentences<'_> {
    Sentences {
        text,
        pos: 0,
        prefixes: &[],
    }
}

impl<'t> Sentences<'t> {
    /// Non-breaking prefixes: a `.` after one of these words does not end a sentence before an
    /// uppercase letter (ssplit's prefix files, class 1).
    pub fn with_prefixes(mut self, prefixes: &'t [&'t str]) -> Self {
        self.prefixes = prefixes;
        self
    }

    /// The next candidate end at or after `cur`: `(end of the sentence, where scanning resumes)`,
    /// and whether it really ends a sentence. `None` when no `.?!` is left.
    fn candidate(&self, cur: usize) -> Option<(usize, usize, bool)> {
        let t = self.text;
        let j = cur + t[cur..].find(['.', '?', '!'])?;
        // The letters and digits right before the punctuation.
        let prefix_start = t[cur..j]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_letter(*c) || is_number(*c))
            .last()
            .map_or(j, |(i, _)| cur + i);
        let prefix = &t[prefix_start..j];
        let punct_end = j + t[j..]
            .find(|c| !matches!(c, '.' | '?' | '!'))
            .unwrap_or(t.len() - j);
        let punct = &t[j..punct_end];
        let trailing = |from: usize| {
            from + t[from..]
                .find(|c| !is_trailing(c))
                .unwrap_or(t.len() - from)
        };
        let mut tail_end = trailing(punct_end);
        let note = footnote(&t[tail_end..]);
        if note > 0 {
            tail_end = trailing(tail_end + note);
        }
        let tail = &t[punct_end..tail_end];
        let ws_end = tail_end
            + t[tail_end..]
                .find(|c| !is_space(c))
                .unwrap_or(t.len() - tail_end);
        if ws_end == tail_end {
            return Some((tail_end, ws_end, false));
        }
        // Look ahead: opening punctuation, spaces, then the first letter or digit.
        let after = &t[ws_end..];
        let ini = after
            .find(|c: char| {
                is_space(c) || is_letter(c) || is_number(c) || is_mark(c) || is_symbol(c)
            })
            .unwrap_or(after.len());
        let next = after[ini..].trim_start_matches(is_space);
        let first = next
            .chars()
            .find(|&c| !is_mark(c))
            .filter(|_| next.starts_with(|c: char| is_letter(c) || is_number(c) || is_mark(c)));
        let cat = first.map(get_general_category);
        let splits = match cat {
            Some(G::LowercaseLetter) => false,
            Some(G::UppercaseLetter | G::TitlecaseLetter) => {
                !(punct == "." && self.prefixes.contains(&prefix))
            }
            _ if next.starts_with(|c| {
                matches!(get_general_category(c), G::DecimalNumber | G::LetterNumber)
            }) =>
            {
                true
            }
            // In-text ellipsis "[...]".
            _ => !(punct == "..." && j > cur + 1 && tail == "]" && t[..j].ends_with('[')),
        };
        Some((tail_end, ws_end, splits))
    }
}

impl Iterator for Sentences<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let t = self.text;
        let start = self.pos + t[self.pos..].find(|c| !is_space(c))?;
        let mut cur = start;
        while let Some((end, resume, splits)) = self.candidate(cur) {
            cur = resume;
            if splits {
                self.pos = resume;
                return Some(start..end);
            }
        }
        self.pos = t.len();
        let end = t[..t.len()].trim_end_matches(is_space).len();
        Some(start..end.max(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split<'a>(t: &'a str, prefixes: &'a [&'a str]) -> heapless::Vec<&'a str, 16> {
        sentences(t)
            .with_prefixes(prefixes)
            .map(|r| &t[r])
            .collect()
    }

    #[test]
    fn bergamot_paragraph_splitting() {
        assert_eq!(split("Hello world.", &[]), ["Hello world."]);
        assert_eq!(
            split("  One. Two?  Three!  ", &[]),
            ["One.", "Two?", "Three!"]
        );
        // No prefixes: abbreviations before uppercase words split, as Bergamot does.
        assert_eq!(
            split("Mrs. Kirchner spoke.", &[]),
            ["Mrs.", "Kirchner spoke."]
        );
        assert_eq!(
            split("Mrs. Kirchner spoke.", &["Mrs"]),
            ["Mrs. Kirchner spoke."]
        );
        assert_eq!(
            split("U.S. President Bush", &[]),
            ["U.S.", "President Bush"]
        );
        // Lowercase continues; digits and sentence-initial punctuation split.
        assert_eq!(
            split("e.g. this one. 3 more. \"Quoted.\" Next", &[]),
            ["e.g. this one.", "3 more.", "\"Quoted.\"", "Next"]
        );
        assert_eq!(
            split("He said \"stop.\" Then left.", &[]),
            ["He said \"stop.\"", "Then left."]
        );
        assert_eq!(split(". Scientists say", &[]), [".", "Scientists say"]);
        assert_eq!(split("See [1, 2]. Then", &[]), ["See [1, 2].", "Then"]);
        assert_eq!(split("Done.[12] Next", &[]), ["Done.[12]", "Next"]);
        assert_eq!(split("a [...] b", &[]), ["a [...] b"]);
        assert_eq!(split("Ende. Über", &[]), ["Ende.", "Über"]);
        assert_eq!(split("end. élan", &[]), ["end. élan"]);
        assert_eq!(split("", &[]).len(), 0);
        assert_eq!(split("   ", &[]).len(), 0);
        assert_eq!(split("no end", &[]), ["no end"]);
    }
}
