//! Markup kept through translation, as Firefox does it with Bergamot's HTML mode: an HTML
//! fragment is read into plain text plus the elements around each byte; the text is translated;
//! each translated piece gets the elements of the source piece it is aligned to
//! ([`Attention::piece_alignment_by`]); the pieces are written back with their elements opened
//! and closed around them. The output is always well-formed: tags are only opened and closed
//! in nested order, everything opened is closed, and an element no piece was aligned to is
//! kept, empty, where its text was (as Bergamot does).
//!
//! Block tags (`<br>`, `<p>`, `<div>`, `<li>`...) end a block: blocks are translated on their
//! own, as Bergamot makes them separate paragraphs. Void tags and comments are kept where they
//! are; the contents of `<script>`, `<style>`, `<code>` and the like are kept untranslated.

use crate::attention::Attention;
use std::ops::Range;

/// Elements whose tag has no end tag (Bergamot's list, after Firefox's).
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Elements that stay inside a sentence (everything else ends a block): Bergamot's list.
const INLINE: &[&str] = &[
    "abbr", "a", "b", "em", "i", "kbd", "mark", "math", "output", "q", "ruby", "small", "span",
    "strong", "sub", "sup", "time", "u", "var", "wbr", "ins", "del", "img",
];

/// Elements whose contents are kept as they are, untranslated.
const VERBATIM: &[&str] = &[
    "code", "kbd", "samp", "var", "script", "style", "svg", "math", "pre", "textarea", "template",
];

/// Why a fragment could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkupError {
    /// Byte offset in the fragment.
    pub at: usize,
    pub reason: String,
}

impl std::fmt::Display for MarkupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad HTML at byte {}: {}", self.at, self.reason)
    }
}

/// An element of the fragment: its start tag and end tag as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub open: String,
    pub close: String,
}

/// Something kept as it is at a plain-text position, inside the elements around it there: a
/// void tag, a comment, verbatim contents, an element without text (with what it holds).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: usize,
    pub html: String,
    pub elements: Vec<usize>,
}

/// A fragment read: its plain text (entities decoded), the elements open over each of its
/// bytes, what is kept at positions, and where blocks end.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fragment {
    pub text: String,
    pub elements: Vec<Element>,
    /// `(start, elements open from there)`, in order: a byte's elements are its run's.
    runs: Vec<(usize, Vec<usize>)>,
    pub markers: Vec<Marker>,
    /// Plain-text offsets where a block ends.
    pub breaks: Vec<usize>,
}

impl Fragment {
    /// The elements open over plain byte `at` (outermost first).
    pub fn elements_at(&self, at: usize) -> &[usize] {
        let i = self.runs.partition_point(|(start, _)| *start <= at);
        i.checked_sub(1).map_or(&[], |i| &self.runs[i].1)
    }

    /// The blocks of the text, as ranges (ends of blocks are [`Fragment::breaks`]).
    pub fn blocks(&self) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        for &b in self.breaks.iter().chain([self.text.len()].iter()) {
            out.push(start..b);
            start = b;
        }
        out
    }
}

/// An element being read: its index, name, whether text was inside, where its start tag
/// is, and how many markers there were before it.
struct Open {
    index: usize,
    name: String,
    has_text: bool,
    at: usize,
    markers: usize,
}

/// Reads an HTML fragment. Errors: an end tag that closes nothing open, or closes an element
/// other than the innermost one, and a tag or comment that never ends. Elements left open at
/// the end are closed there; end tags of void elements (`</br>`) are ignored, as browsers do.
pub fn parse(html: &str) -> Result<Fragment, MarkupError> {
    let mut f = Fragment::default();
    let mut open: Vec<Open> = Vec::new();
    let mut pos = 0;
    let err = |at: usize, reason: String| MarkupError { at, reason };
    let stack = |open: &[Open]| open.iter().map(|o| o.index).collect::<Vec<_>>();
    while pos < html.len() {
        let rest = &html[pos..];
        if let Some(body) = rest.strip_prefix("<!--") {
            let end = body
                .find("-->")
                .ok_or_else(|| err(pos, "a comment never ends".into()))?;
            let len = 4 + end + 3;
            marker(&mut f, &html[pos..pos + len], stack(&open));
            pos += len;
            continue;
        }
        let tag = rest.starts_with('<')
            && rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!');
        if !tag {
            // Text, up to the next '<' (a '<' that starts no tag is text).
            let first = rest.chars().next().map_or(1, char::len_utf8);
            let end = rest[first..].find('<').map_or(rest.len(), |e| e + first);
            let text = decode_entities(&rest[..end]);
            if !text.is_empty() {
                let here = stack(&open);
                if f.runs.last().is_none_or(|(_, s)| *s != here) {
                    f.runs.push((f.text.len(), here));
                }
                f.text.push_str(&text);
                open.iter_mut().for_each(|o| o.has_text = true);
            }
            pos += end;
            continue;
        }
        let len = tag_end(rest).ok_or_else(|| err(pos, "a tag never ends (no '>')".into()))?;
        let written = &html[pos..pos + len];
        let name = tag_name(written);
        let inline = INLINE.contains(&name.as_str());
        if written.starts_with("<!") {
            marker(&mut f, written, stack(&open));
        } else if written.starts_with("</") {
            if VOID.contains(&name.as_str()) {
                pos += len;
                continue;
            }
            let Some(top) = open.pop() else {
                return Err(err(pos, format!("</{name}> closes nothing")));
            };
            if top.name != name {
                return Err(err(
                    pos,
                    format!("</{name}> closes <{}>, which is still open", top.name),
                ));
            }
            f.elements[top.index].close = written.to_string();
            if !top.has_text {
                // No text inside: kept whole, with what it holds, where it was.
                f.markers.truncate(top.markers);
                marker(&mut f, &html[top.at..pos + len], stack(&open));
            }
            if !inline {
                f.breaks.push(f.text.len());
            }
        } else if VOID.contains(&name.as_str()) || written.ends_with("/>") {
            marker(&mut f, written, stack(&open));
            if !inline {
                f.breaks.push(f.text.len());
            }
        } else if VERBATIM.contains(&name.as_str()) {
            let close = format!("</{name}");
            let inner = html[pos + len..].to_ascii_lowercase().find(&close);
            let end = inner.and_then(|i| Some(pos + len + i + tag_end(&html[pos + len + i..])?));
            let end = end.ok_or_else(|| err(pos, format!("<{name}> is never closed")))?;
            if !inline {
                f.breaks.push(f.text.len());
            }
            marker(&mut f, &html[pos..end], stack(&open));
            if !inline {
                f.breaks.push(f.text.len());
            }
            pos = end;
            continue;
        } else {
            if !inline {
                f.breaks.push(f.text.len());
            }
            f.elements.push(Element {
                open: written.to_string(),
                close: format!("</{name}>"),
            });
            open.push(Open {
                index: f.elements.len() - 1,
                name,
                has_text: false,
                at: pos,
                markers: f.markers.len(),
            });
        }
        pos += len;
    }
    // Still open at the end: closed there. Those without text (the innermost ones) are kept
    // whole, with what they hold.
    if let Some(first) = open.iter().position(|o| !o.has_text) {
        let empty = open.split_off(first);
        f.markers.truncate(empty[0].markers);
        let mut whole = html[empty[0].at..].to_string();
        for o in empty.iter().rev() {
            whole.push_str(&f.elements[o.index].close);
        }
        marker(&mut f, &whole, stack(&open));
    }
    f.breaks.dedup();
    f.breaks.retain(|&b| b > 0 && b < f.text.len());
    Ok(f)
}

/// Keeps `html` at the current end of the text, inside `elements`.
fn marker(f: &mut Fragment, html: &str, elements: Vec<usize>) {
    f.markers.push(Marker {
        at: f.text.len(),
        html: html.to_string(),
        elements,
    });
}

/// Length of the tag at the start of `s` (through its `>`, quotes respected).
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The lowercase element name of a tag such as `<a href=...>` or `</b>`.
fn tag_name(tag: &str) -> String {
    tag.trim_start_matches('<')
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Decodes the entities Bergamot does (`&lt; &gt; &amp; &quot; &apos;`, `&nbsp;` as a plain
/// space) and numeric ones; anything else stays as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `& < >` as entities (what Bergamot encodes in its output).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The byte ranges in `text` of source pieces encoded from it from byte `from` on: each
/// piece's text (`▁` a space) is looked for where the previous one ended, spaces skipped; a
/// piece that is not found there (normalized text, an unknown piece) gets an empty range.
/// `special` pieces (EOS, language) get `None`.
pub fn piece_ranges(
    text: &str,
    from: usize,
    pieces: &[String],
    special: impl Fn(usize) -> bool,
) -> Vec<Option<Range<usize>>> {
    let mut cur = from;
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if special(i) {
                return None;
            }
            let surface = p.replace('\u{2581}', " ");
            let surface = surface.trim_start();
            let skipped = text[cur..].len() - text[cur..].trim_start().len();
            let start = cur + skipped;
            if !surface.is_empty() && text[start..].starts_with(surface) {
                cur = start + surface.len();
                Some(start..cur)
            } else {
                Some(start..start)
            }
        })
        .collect()
}

/// One piece of output text and the elements it sits in.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub text: String,
    pub elements: Vec<usize>,
    /// Where its source is in the fragment's text: markers before this position that were not
    /// written yet go before it.
    pub source_at: usize,
}

/// The elements of each target piece: those of the source piece it is aligned to (the source
/// pieces' ranges from [`piece_ranges`]), Bergamot's way, where a piece continuing a word keeps
/// the word together unless its source is in other elements and it attends less.
pub fn target_elements(
    f: &Fragment,
    a: &Attention,
    ranges: &[Option<Range<usize>>],
    sentence_end: usize,
) -> Vec<(Vec<usize>, usize)> {
    // The source's last piece with text: where pieces aligned to EOS go (Bergamot gives EOS
    // the last span before the sentence's end).
    let last = ranges.iter().flatten().rfind(|r| !r.is_empty());
    let end = last.map_or((Vec::new(), sentence_end), |r| {
        (f.elements_at(r.end - 1).to_vec(), r.start)
    });
    let of = |s: usize| -> (Vec<usize>, usize) {
        match ranges.get(s).cloned().flatten() {
            // The last byte's elements (the last run overlapping the piece).
            Some(r) if !r.is_empty() => (f.elements_at(r.end - 1).to_vec(), r.start),
            Some(r) => (f.elements_at(r.start).to_vec(), r.start),
            None => end.clone(),
        }
    };
    let extends = |cur: usize, prev: usize| of(cur).0.starts_with(&of(prev).0);
    a.piece_alignment_by(extends)
        .iter()
        .map(|s| match s {
            Some(s) => of(*s),
            None => end.clone(),
        })
        .collect()
}

/// Writes placed pieces as HTML: before each piece, the markers whose position it has passed
/// (each inside its elements), then the elements the piece leaves closed (before its leading
/// space) and those it enters opened (after it). Markers still unwritten, and the closing of
/// whatever is open, come at the end. An element with text that no piece is in is kept, empty,
/// where its text began.
pub fn write(f: &Fragment, placed: &[Placed]) -> String {
    let mut markers = f.markers.clone();
    for (e, el) in f.elements.iter().enumerate() {
        if placed.iter().any(|p| p.elements.contains(&e)) {
            continue;
        }
        let first = f
            .runs
            .iter()
            .find_map(|(at, s)| Some((*at, s.iter().position(|&x| x == e)?)));
        if let Some((at, depth)) = first {
            let elements = f.elements_at(at)[..depth].to_vec();
            let html = format!("{}{}", el.open, el.close);
            markers.push(Marker { at, html, elements });
        }
    }
    markers.sort_by_key(|m| m.at);
    let mut out = String::new();
    let mut open: Vec<usize> = Vec::new();
    let mut next = 0;
    for p in placed {
        while let Some(m) = markers.get(next).filter(|m| m.at <= p.source_at) {
            enter(f, &mut open, &m.elements, &mut out);
            out.push_str(&m.html);
            next += 1;
        }
        let space = p.text.len() - p.text.trim_start().len();
        leave(f, &mut open, &p.elements, &mut out);
        out.push_str(&escape(&p.text[..space]));
        enter(f, &mut open, &p.elements, &mut out);
        out.push_str(&escape(&p.text[space..]));
    }
    for m in &markers[next..] {
        enter(f, &mut open, &m.elements, &mut out);
        out.push_str(&m.html);
    }
    leave(f, &mut open, &[], &mut out);
    out
}

/// Closes the open elements `to` does not continue.
fn leave(f: &Fragment, open: &mut Vec<usize>, to: &[usize], out: &mut String) {
    let keep = open.iter().zip(to).take_while(|(a, b)| a == b).count();
    while open.len() > keep {
        let e = open.pop().unwrap_or_default();
        out.push_str(&f.elements[e].close);
    }
}

/// Makes the open elements exactly `to`: closes the others, opens the missing.
fn enter(f: &Fragment, open: &mut Vec<usize>, to: &[usize], out: &mut String) {
    leave(f, open, to, out);
    for &e in &to[open.len()..] {
        out.push_str(&f.elements[e].open);
        open.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_elements_markers_and_blocks() {
        let f = parse(r#"Hi <b>big <a href="x>y">world</a></b>!<br>Next &amp; last<!-- c -->"#)
            .unwrap();
        assert_eq!(f.text, "Hi big world!Next & last");
        assert_eq!(f.elements.len(), 2);
        assert_eq!(f.elements[1].open, r#"<a href="x>y">"#);
        assert_eq!(f.elements_at(0), &[] as &[usize]);
        assert_eq!(f.elements_at(3), &[0]);
        assert_eq!(f.elements_at(8), &[0, 1]);
        assert_eq!(f.elements_at(12), &[] as &[usize]);
        assert_eq!(f.breaks, [13]);
        assert_eq!(f.blocks(), [0..13, 13..24]);
        assert_eq!(
            f.markers
                .iter()
                .map(|m| m.html.as_str())
                .collect::<Vec<_>>(),
            ["<br>", "<!-- c -->"]
        );
    }

    #[test]
    fn bad_fragments_are_errors_with_a_place() {
        let e = parse("a <b>x</i>").unwrap_err();
        assert_eq!(e.at, 6);
        assert!(e.reason.contains("</i>"), "{e}");
        assert!(parse("a </b>").is_err());
        assert!(parse("a <b class='x").is_err());
        assert!(parse("a <!-- x").is_err());
        // A lone '<' is text; an unclosed element is closed at the end.
        assert_eq!(parse("1 < 2").unwrap().text, "1 < 2");
        assert_eq!(parse("<b>open").unwrap().elements.len(), 1);
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a&lt;b&gt;&amp;&quot;&#233;&#x41;&nbsp;&bogus;&"),
            "a<b>&\"éA &bogus;&"
        );
        assert_eq!(escape("<a & b>"), "&lt;a &amp; b&gt;");
    }

    #[test]
    fn pieces_find_their_bytes() {
        let p: Vec<String> = ["\u{2581}Hello", "\u{2581}wor", "ld", "!", "</s>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = piece_ranges("ab Hello  world!", 2, &p, |i| i == 4);
        assert_eq!(
            r,
            [Some(3..8), Some(10..13), Some(13..15), Some(15..16), None]
        );
    }

    #[test]
    fn writes_nested_well_formed_html() {
        let f = parse("<b>a <i>b</i></b> c<br>").unwrap();
        let placed = [
            Placed {
                text: "x".into(),
                elements: vec![0, 1],
                source_at: 2,
            },
            Placed {
                text: " y".into(),
                elements: vec![0],
                source_at: 0,
            },
            Placed {
                text: " z".into(),
                elements: vec![],
                source_at: 4,
            },
        ];
        assert_eq!(write(&f, &placed), "<b><i>x</i> y</b> z<br>");
        // An element no piece is in is kept, empty, where its text was.
        let placed = [Placed {
            text: "x y z".into(),
            elements: vec![],
            source_at: 0,
        }];
        assert_eq!(write(&f, &placed), "<b></b>x y z<b><i></i></b><br>");
    }

    /// One piece of text in given elements, from source position `at`.
    fn piece(text: &str, elements: &[usize], at: usize) -> Placed {
        Placed {
            text: text.into(),
            elements: elements.to_vec(),
            source_at: at,
        }
    }

    #[test]
    fn kept_things_stay_inside_their_elements() {
        // An element without text keeps what it holds.
        let f = parse(r#"<a href="/"><img src="l.png"></a> Home"#).unwrap();
        assert_eq!(f.text, " Home");
        assert_eq!(f.markers.len(), 1);
        assert_eq!(f.markers[0].html, r#"<a href="/"><img src="l.png"></a>"#);
        let out = write(&f, &[piece(" Inicio", &[], 1)]);
        assert_eq!(out, r#"<a href="/"><img src="l.png"></a> Inicio"#);
        // A void tag inside an element is written inside it.
        let f = parse("<b>Hello <img></b> world").unwrap();
        assert_eq!(f.markers[0].elements, [0]);
        let out = write(&f, &[piece("Ola", &[0], 0), piece(" mundo", &[], 7)]);
        assert_eq!(out, "<b>Ola<img></b> mundo");
    }

    #[test]
    fn odd_but_valid_fragments() {
        // A '<' that starts no tag is text, and the tags after it are still tags.
        let f = parse("é<b>c</b>").unwrap();
        assert_eq!((f.text.as_str(), f.elements.len()), ("éc", 1));
        let f = parse("a < b <b>c</b>").unwrap();
        assert_eq!((f.text.as_str(), f.elements.len()), ("a < b c", 1));
        assert!(parse("a < b <b>c</i>").is_err());
        // An element left open without text is kept, closed.
        let f = parse("Read more <a href=/x>").unwrap();
        assert_eq!(f.markers[0].html, "<a href=/x></a>");
        assert_eq!(
            write(&f, &[piece("Leia mais", &[], 0)]),
            "Leia mais<a href=/x></a>"
        );
        // Verbatim block elements end a block; end tags of void elements are ignored.
        let f = parse("First part<pre>x</pre>second part</br>").unwrap();
        assert_eq!(f.blocks(), [0..10, 10..21]);
        assert_eq!(f.markers.len(), 1);
    }
}
