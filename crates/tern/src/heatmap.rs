//! Attention heatmaps as standalone SVG, or an HTML page around it with hover read-outs.
//!
//! Hand-written SVG with std only, so the library gains no dependency for a debugging view.
//! Each grid is one panel: source pieces label the columns (rotated -60 degrees so long pieces
//! fit), target pieces the rows, and each cell is shaded from white (weight 0) to dark blue
//! (weight 1) along ColorBrewer's perceptual single-hue "Blues" ramp. Every cell carries a
//! `<title>` ("target → source: 0.123") that browsers show on hover.
//!
//! Labels are shown as the tokenizer spells them: SentencePiece's "▁" word-start marker stays
//! as it is (it is visible in common fonts and tells a word start from a continuation).
//! Control characters, which XML cannot hold, become their Unicode control pictures (␀, ␉, …),
//! and a label wider than [`MAX_LABEL_UNITS`] characters is cut with "…" (the cells' titles
//! keep it whole). Label widths are estimated by character count in a monospace font, so
//! labels never run into the grid. The output depends only on the input.

use std::fmt::{self, Write};

/// One grid of weights: `rows` x `cols`, row-major; row t is target piece t's distribution
/// over source pieces.
pub struct Grid<'a> {
    pub title: String,
    pub weights: &'a [f32],
}

/// Why no heatmap was drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeatmapError {
    /// Grid number `grid` (from 0) does not hold `rows` x `columns` weights.
    WrongLength {
        grid: usize,
        rows: usize,
        columns: usize,
        weights: usize,
    },
}

impl fmt::Display for HeatmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeatmapError::WrongLength {
                grid,
                rows,
                columns,
                weights,
            } => write!(
                f,
                "attention grid {grid} has {weights} weights, not {rows} rows x {columns} columns"
            ),
        }
    }
}

impl std::error::Error for HeatmapError {}

/// Side of one cell, in pixels.
const CELL: usize = 20;
/// Label font size; monospace, so a label's width follows from its character count.
const FONT: usize = 12;
/// Advance of one monospace character at [`FONT`] (DejaVu Sans Mono: 0.602 em).
const CHAR_WIDTH: f64 = 0.61 * FONT as f64;
/// Panel title font size (bold).
const TITLE_FONT: usize = 13;
/// Advance of one bold title character.
const TITLE_CHAR_WIDTH: f64 = 0.62 * TITLE_FONT as f64;
/// Height of a panel's title band.
const TITLE_HEIGHT: usize = 24;
/// Space between a label and the grid.
const LABEL_GAP: usize = 4;
/// Space between panels.
const PANEL_GAP: usize = 28;
/// Space around the whole picture.
const MARGIN: usize = 12;
/// Widest label shown whole, in character cells (wide CJK characters count two).
pub const MAX_LABEL_UNITS: usize = 24;
/// Column labels' rotation: steep enough that neighbours 20 px apart do not touch.
const COLUMN_ANGLE: f64 = 60.0;
/// Legend bar size.
const LEGEND_BAR: (usize, usize) = (160, 12);
/// Legend band height (bar and tick labels).
const LEGEND_HEIGHT: usize = 34;

/// ColorBrewer "Blues" (9 classes) with its lightest stop made pure white: lightness falls
/// steadily, so equal weight steps look like equal shade steps and 0 is the background.
const RAMP: [[u8; 3]; 9] = [
    [0xff, 0xff, 0xff],
    [0xde, 0xeb, 0xf7],
    [0xc6, 0xdb, 0xef],
    [0x9e, 0xca, 0xe1],
    [0x6b, 0xae, 0xd6],
    [0x42, 0x92, 0xc6],
    [0x21, 0x71, 0xb5],
    [0x08, 0x51, 0x9c],
    [0x08, 0x30, 0x6b],
];

/// Accent for the hovered cell and its labels.
const ACCENT: &str = "#d94801";

/// The heatmaps as a standalone SVG document: `per_line` panels per row of panels (one grid:
/// just the average; many: layers x heads with `per_line` = heads; 0 counts as 1).
///
/// Errors if a grid does not hold `rows.len()` x `columns.len()` weights. Empty rows, columns
/// or grids give a valid picture with empty panels. Weights outside 0..=1 (or NaN) are shaded
/// as the nearest end (NaN as 0) and shown as they are in the cell titles.
pub fn svg(
    columns: &[String],
    rows: &[String],
    grids: &[Grid],
    per_line: usize,
) -> Result<String, HeatmapError> {
    check_lengths(columns.len(), rows.len(), grids)?;
    let columns = labels(columns);
    let rows = labels(rows);
    let layout = Layout::new(&columns, &rows, grids, per_line);
    let mut out = String::new();
    write_header(&mut out, &layout);
    for (index, grid) in grids.iter().enumerate() {
        write_panel(&mut out, &layout, &columns, &rows, grid, index);
    }
    if grids.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{MARGIN}" y="{}">(no attention grids)</text>"#,
            MARGIN + FONT
        );
    }
    write_legend(&mut out, &layout);
    out.push_str("</svg>\n");
    Ok(out)
}

/// A self-contained HTML page around [`svg`]: hovering a cell highlights its row and column
/// labels and shows the panel, the pieces and the weight above the picture. Inline CSS and JS
/// only, so the file can be opened offline or attached to a bug report.
pub fn html(
    columns: &[String],
    rows: &[String],
    grids: &[Grid],
    per_line: usize,
) -> Result<String, HeatmapError> {
    let picture = svg(columns, rows, grids, per_line)?;
    Ok(format!(
        "{HTML_HEAD}<div id=\"readout\">Hover a cell to see its weight.</div>\n\
         {picture}{HTML_SCRIPT}</body>\n</html>\n"
    ))
}

const HTML_HEAD: &str = "<!DOCTYPE html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<title>Attention heatmap</title>
<style>
body { font-family: sans-serif; margin: 16px; }
#readout { position: sticky; top: 0; background: #fff; padding: 6px 0;
  min-height: 1.4em; font-family: monospace; font-size: 14px; }
svg text.hot { fill: #d94801; font-weight: bold; }
svg rect.cell.hot { stroke: #d94801; stroke-width: 2; }
</style>
</head>
<body>
";

const HTML_SCRIPT: &str = "<script>
(function () {
  var readout = document.getElementById('readout');
  var picture = document.querySelector('svg');
  var hot = [];
  function clear() {
    hot.forEach(function (e) { e.classList.remove('hot'); });
    hot = [];
  }
  function mark(e) { e.classList.add('hot'); hot.push(e); }
  picture.addEventListener('mouseover', function (event) {
    var cell = event.target;
    if (!cell.classList || !cell.classList.contains('cell')) return;
    clear();
    var panel = cell.closest('g.panel');
    var r = cell.getAttribute('data-r'), c = cell.getAttribute('data-c');
    panel.querySelectorAll('text.row[data-r=\"' + r + '\"], text.col[data-c=\"' + c + '\"]')
      .forEach(mark);
    mark(cell);
    var title = panel.querySelector('text.ptitle');
    var value = cell.querySelector('title');
    readout.textContent = (title ? title.textContent + ' | ' : '') +
      (value ? value.textContent : '');
  });
  picture.addEventListener('mouseleave', clear);
})();
</script>
";

/// Checks every grid's length before drawing anything.
fn check_lengths(columns: usize, rows: usize, grids: &[Grid]) -> Result<(), HeatmapError> {
    let cells = rows.saturating_mul(columns);
    match grids.iter().position(|g| g.weights.len() != cells) {
        Some(grid) => Err(HeatmapError::WrongLength {
            grid,
            rows,
            columns,
            weights: grids[grid].weights.len(),
        }),
        None => Ok(()),
    }
}

/// A piece ready to print: escaped, whole (for titles) and possibly cut (for the axis).
struct Label {
    full: String,
    shown: String,
    /// Estimated width of `shown`, in pixels.
    width: f64,
    /// `shown` is shorter than the piece.
    cut: bool,
}

fn labels(pieces: &[String]) -> Vec<Label> {
    pieces.iter().map(|p| label(p)).collect()
}

fn label(piece: &str) -> Label {
    let visible = visible(piece);
    let (shown, cut) = shorten(&visible, MAX_LABEL_UNITS);
    Label {
        full: escape(&visible),
        width: units(&shown) as f64 * CHAR_WIDTH,
        shown: escape(&shown),
        cut,
    }
}

/// Replaces characters XML 1.0 cannot hold (C0 controls, U+FFFE, U+FFFF) and whitespace
/// controls (which SVG would collapse) by visible stand-ins.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// `text` cut to at most `max` character cells, "…" marking the cut.
fn shorten(text: &str, max: usize) -> (String, bool) {
    if units(text) <= max {
        return (text.to_string(), false);
    }
    let mut shown = String::new();
    let mut used = 0;
    for c in text.chars() {
        used += char_units(c);
        if used > max - 1 {
            break;
        }
        shown.push(c);
    }
    shown.push('…');
    (shown, true)
}

/// Width of `text` in monospace character cells.
fn units(text: &str) -> usize {
    text.chars().map(char_units).sum()
}

/// Wide East Asian characters take two cells, combining marks none.
fn char_units(c: char) -> usize {
    match c as u32 {
        0x0300..=0x036f | 0x200b..=0x200f => 0,
        0x1100..=0x115f
        | 0x2e80..=0xa4cf
        | 0xac00..=0xd7a3
        | 0xf900..=0xfaff
        | 0xfe30..=0xfe4f
        | 0xff00..=0xff60
        | 0xffe0..=0xffe6
        | 0x1f300..=0x1faff
        | 0x20000..=0x3fffd => 2,
        _ => 1,
    }
}

/// Escapes the five XML special characters, for text and attribute values alike.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Where everything goes, in whole pixels. Every panel has the same size, as the labels are
/// shared.
struct Layout {
    /// Grid origin inside a panel: after the row labels, below the title and column labels.
    grid_x: usize,
    grid_y: usize,
    panel_width: usize,
    panel_height: usize,
    per_line: usize,
    /// Top of the legend band.
    legend_y: usize,
    width: usize,
    height: usize,
}

impl Layout {
    fn new(columns: &[Label], rows: &[Label], grids: &[Grid], per_line: usize) -> Self {
        let widest = |labels: &[Label]| labels.iter().map(|l| l.width).fold(0.0, f64::max);
        let (sin, cos) = COLUMN_ANGLE.to_radians().sin_cos();
        let grid_x = widest(rows).ceil() as usize + 2 * LABEL_GAP;
        // Glyphs stand about one font size off the rotated baseline.
        let column_band = (widest(columns) * sin).ceil() as usize + FONT + LABEL_GAP;
        let grid_y = TITLE_HEIGHT + column_band;
        let grid_right = grid_x + columns.len() * CELL;
        let labels_right = columns
            .iter()
            .enumerate()
            .map(|(c, l)| column_anchor(grid_x, c) as f64 + l.width * cos + FONT as f64 / 2.0)
            .fold(0.0, f64::max)
            .ceil() as usize;
        let title_right = grids
            .iter()
            .map(|g| (units(&g.title) as f64 * TITLE_CHAR_WIDTH).ceil() as usize)
            .max()
            .unwrap_or(0);
        let panel_width = grid_right.max(labels_right).max(title_right);
        let panel_height = grid_y + rows.len() * CELL;
        let per_line = per_line.clamp(1, grids.len().max(1));
        let lines = grids.len().div_ceil(per_line);
        let panels_width = spread(per_line, panel_width);
        let panels_height = if grids.is_empty() {
            FONT + LABEL_GAP
        } else {
            spread(lines, panel_height)
        };
        let legend_width = LEGEND_BAR.0 + 2 * FONT + 16 * FONT;
        let legend_y = MARGIN + panels_height + PANEL_GAP / 2;
        Layout {
            grid_x,
            grid_y,
            panel_width,
            panel_height,
            per_line,
            legend_y,
            width: 2 * MARGIN + panels_width.max(legend_width),
            height: legend_y + LEGEND_HEIGHT + MARGIN,
        }
    }

    /// Top-left corner of panel `index`.
    fn panel_origin(&self, index: usize) -> (usize, usize) {
        let (line, place) = (index / self.per_line, index % self.per_line);
        (
            MARGIN + place * (self.panel_width + PANEL_GAP),
            MARGIN + line * (self.panel_height + PANEL_GAP),
        )
    }
}

/// Length of `count` items of `size` with a panel gap between them.
fn spread(count: usize, size: usize) -> usize {
    count * size + count.saturating_sub(1) * PANEL_GAP
}

/// Start of column `c`'s rotated label: right of the column centre by about half a glyph
/// height, so the slanted text sits over its column.
fn column_anchor(grid_x: usize, c: usize) -> usize {
    grid_x + c * CELL + CELL / 2 + FONT / 3
}

fn write_header(out: &mut String, layout: &Layout) {
    let (w, h) = (layout.width, layout.height);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT}">"#
    );
    let _ = writeln!(
        out,
        "<style>rect.cell:hover {{ stroke: {ACCENT}; stroke-width: 2; }}</style>"
    );
    out.push_str(r#"<defs><linearGradient id="heatmap-scale">"#);
    for (i, colour) in RAMP.iter().enumerate() {
        let offset = i as f64 / (RAMP.len() - 1) as f64;
        let _ = write!(
            out,
            r#"<stop offset="{offset:.3}" stop-color="{}"/>"#,
            hex(*colour)
        );
    }
    out.push_str("</linearGradient></defs>\n");
    let _ = writeln!(out, r##"<rect width="{w}" height="{h}" fill="#fff"/>"##);
}

fn write_panel(
    out: &mut String,
    layout: &Layout,
    columns: &[Label],
    rows: &[Label],
    grid: &Grid,
    index: usize,
) {
    let (x, y) = layout.panel_origin(index);
    let _ = writeln!(
        out,
        r#"<g class="panel" data-grid="{index}" transform="translate({x},{y})">"#
    );
    let _ = writeln!(
        out,
        r#"<text class="ptitle" x="0" y="{}" font-size="{TITLE_FONT}" font-weight="bold">{}</text>"#,
        TITLE_FONT + 2,
        escape(&visible(&grid.title))
    );
    write_column_labels(out, layout, columns);
    write_row_labels(out, layout, rows);
    write_cells(out, layout, columns, rows, grid.weights);
    out.push_str("</g>\n");
}

fn write_column_labels(out: &mut String, layout: &Layout, columns: &[Label]) {
    let y = layout.grid_y - LABEL_GAP;
    for (c, label) in columns.iter().enumerate() {
        let x = column_anchor(layout.grid_x, c);
        let _ = writeln!(
            out,
            r#"<text class="col" data-c="{c}" transform="translate({x},{y}) rotate(-{COLUMN_ANGLE})">{}{}</text>"#,
            label.shown,
            whole_title(label)
        );
    }
}

fn write_row_labels(out: &mut String, layout: &Layout, rows: &[Label]) {
    let x = layout.grid_x - LABEL_GAP;
    for (r, label) in rows.iter().enumerate() {
        // The baseline a third of a font size below the row's middle centres the glyphs.
        let y = layout.grid_y + r * CELL + CELL / 2 + FONT / 3;
        let _ = writeln!(
            out,
            r#"<text class="row" data-r="{r}" x="{x}" y="{y}" text-anchor="end">{}{}</text>"#,
            label.shown,
            whole_title(label)
        );
    }
}

/// A hover title with the whole piece, for labels that were cut.
fn whole_title(label: &Label) -> String {
    if label.cut {
        format!("<title>{}</title>", label.full)
    } else {
        String::new()
    }
}

fn write_cells(
    out: &mut String,
    layout: &Layout,
    columns: &[Label],
    rows: &[Label],
    weights: &[f32],
) {
    for (r, target) in rows.iter().enumerate() {
        let y = layout.grid_y + r * CELL;
        for (c, source) in columns.iter().enumerate() {
            let x = layout.grid_x + c * CELL;
            let weight = weights[r * columns.len() + c];
            let _ = writeln!(
                out,
                r#"<rect class="cell" data-r="{r}" data-c="{c}" x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{}"><title>{} → {}: {weight:.3}</title></rect>"#,
                hex(shade(weight)),
                target.full,
                source.full
            );
        }
    }
    // A thin frame, so near-white cells still show where the grid ends.
    let _ = writeln!(
        out,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999" stroke-width="0.5" pointer-events="none"/>"##,
        layout.grid_x,
        layout.grid_y,
        columns.len() * CELL,
        rows.len() * CELL
    );
}

fn write_legend(out: &mut String, layout: &Layout) {
    let (w, h) = LEGEND_BAR;
    let bar_x = MARGIN + 2 * FONT;
    let y = layout.legend_y;
    let text_y = y + h - 2;
    let _ = writeln!(
        out,
        r##"<g class="legend"><text x="{}" y="{text_y}" text-anchor="end">0</text><rect x="{bar_x}" y="{y}" width="{w}" height="{h}" fill="url(#heatmap-scale)" stroke="#999" stroke-width="0.5"/><text x="{}" y="{text_y}">1</text><text x="{bar_x}" y="{}">attention weight</text></g>"##,
        bar_x - LABEL_GAP,
        bar_x + w + LABEL_GAP,
        y + h + FONT + LABEL_GAP,
    );
}

/// A weight's colour: linear between the ramp's stops; out-of-range weights take the nearest
/// end, NaN is 0.
fn shade(weight: f32) -> [u8; 3] {
    let t = if weight.is_nan() {
        0.0
    } else {
        f64::from(weight).clamp(0.0, 1.0)
    };
    let steps = (RAMP.len() - 1) as f64;
    let low = ((t * steps).floor() as usize).min(RAMP.len() - 2);
    let frac = t * steps - low as f64;
    let (a, b) = (RAMP[low], RAMP[low + 1]);
    let mix = |i: usize| (f64::from(a[i]) + (f64::from(b[i]) - f64::from(a[i])) * frac).round();
    [mix(0) as u8, mix(1) as u8, mix(2) as u8]
}

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"))
    }

    fn has_class(node: &roxmltree::Node, class: &str) -> bool {
        node.attribute("class") == Some(class)
    }

    fn count_class(doc: &roxmltree::Document, class: &str) -> usize {
        doc.descendants().filter(|n| has_class(n, class)).count()
    }

    /// Relative luminance of "#rrggbb" (sRGB coefficients; monotonic in each channel).
    fn luminance(fill: &str) -> f64 {
        let channel = |i: usize| u8::from_str_radix(&fill[1 + 2 * i..3 + 2 * i], 16).unwrap();
        0.2126 * f64::from(channel(0))
            + 0.7152 * f64::from(channel(1))
            + 0.0722 * f64::from(channel(2))
    }

    /// A sentence-like example: two layers x three heads, each row a distribution.
    fn sample() -> (Vec<String>, Vec<String>, Vec<Vec<f32>>) {
        let columns = pieces(&["▁The", "▁cat", "▁sat", "▁on", "▁the", "▁mat", ".", "</s>"]);
        let rows = pieces(&[
            "▁Die", "▁Katze", "▁saß", "▁auf", "▁der", "▁Matte", ".", "</s>",
        ]);
        let weights = (0..6)
            .map(|g| {
                let mut w = Vec::new();
                for r in 0..rows.len() {
                    let raw: Vec<f32> = (0..columns.len())
                        .map(|c| {
                            let d = (r as f32 - c as f32 + (g % 3) as f32 - 1.0).abs();
                            (-d * (1.0 + g as f32 * 0.4)).exp()
                        })
                        .collect();
                    let sum: f32 = raw.iter().sum();
                    w.extend(raw.iter().map(|x| x / sum));
                }
                w
            })
            .collect();
        (columns, rows, weights)
    }

    fn sample_grids(weights: &[Vec<f32>]) -> Vec<Grid<'_>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| Grid {
                title: format!("layer {} head {}", i / 3, i % 3),
                weights: w,
            })
            .collect()
    }

    #[test]
    fn well_formed_with_one_cell_per_weight() {
        let (columns, rows, weights) = sample();
        let grids = sample_grids(&weights);
        let out = svg(&columns, &rows, &grids, 3).unwrap();
        let doc = parse(&out);
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let panels: Vec<_> = doc
            .descendants()
            .filter(|n| has_class(n, "panel"))
            .collect();
        assert_eq!(panels.len(), grids.len());
        for panel in &panels {
            let cells = panel.descendants().filter(|n| has_class(n, "cell"));
            assert_eq!(cells.count(), rows.len() * columns.len());
            assert_eq!(
                panel.descendants().filter(|n| has_class(n, "col")).count(),
                columns.len()
            );
            assert_eq!(
                panel.descendants().filter(|n| has_class(n, "row")).count(),
                rows.len()
            );
        }
        assert_eq!(count_class(&doc, "legend"), 1);
    }

    #[test]
    fn panels_are_laid_out_per_line() {
        let (columns, rows, weights) = sample();
        let grids = sample_grids(&weights);
        let out = svg(&columns, &rows, &grids, 3).unwrap();
        let doc = parse(&out);
        let origins: Vec<&str> = doc
            .descendants()
            .filter(|n| has_class(n, "panel"))
            .map(|n| n.attribute("transform").unwrap())
            .collect();
        let ys: Vec<&str> = origins
            .iter()
            .map(|t| t.split(',').nth(1).unwrap())
            .collect();
        assert_eq!(ys[0], ys[2]);
        assert_ne!(ys[2], ys[3]);
        assert_eq!(ys[3], ys[5]);
    }

    #[test]
    fn every_cell_has_a_hover_title() {
        let columns = pieces(&["▁a", "b"]);
        let rows = pieces(&["▁x"]);
        let weights = [0.25, 0.75];
        let grid = Grid {
            title: "average".into(),
            weights: &weights,
        };
        let out = svg(&columns, &rows, &[grid], 1).unwrap();
        let doc = parse(&out);
        let titles: Vec<&str> = doc
            .descendants()
            .filter(|n| has_class(n, "cell"))
            .map(|n| n.first_element_child().unwrap().text().unwrap())
            .collect();
        assert_eq!(titles, ["▁x → ▁a: 0.250", "▁x → b: 0.750"]);
    }

    #[test]
    fn labels_and_titles_are_escaped() {
        let nasty = r#"<b>&"x"'"#;
        let columns = pieces(&[nasty, "ok"]);
        let rows = pieces(&[nasty]);
        let weights = [0.5, 0.5];
        let grid = Grid {
            title: nasty.into(),
            weights: &weights,
        };
        let out = svg(&columns, &rows, &[grid], 1).unwrap();
        assert!(!out.contains("<b>"));
        assert!(out.contains("&lt;b&gt;&amp;&quot;x&quot;&apos;"));
        let doc = parse(&out);
        let text_of = |class: &str| {
            doc.descendants()
                .find(|n| has_class(n, class))
                .and_then(|n| n.text())
                .unwrap()
                .to_string()
        };
        assert_eq!(text_of("col"), nasty);
        assert_eq!(text_of("row"), nasty);
        assert_eq!(text_of("ptitle"), nasty);
        let first_cell = doc.descendants().find(|n| has_class(n, "cell")).unwrap();
        let title = first_cell.first_element_child().unwrap().text().unwrap();
        assert_eq!(title, format!("{nasty} → {nasty}: 0.500"));
    }

    #[test]
    fn control_characters_stay_well_formed() {
        let columns = pieces(&["a\u{1}b", "\t"]);
        let rows = pieces(&["\u{0}"]);
        let weights = [0.1, 0.9];
        let grid = Grid {
            title: "t\u{7}".into(),
            weights: &weights,
        };
        let doc_text = svg(&columns, &rows, &[grid], 1).unwrap();
        let doc = parse(&doc_text);
        let cols: Vec<&str> = doc
            .descendants()
            .filter(|n| has_class(n, "col"))
            .map(|n| n.text().unwrap())
            .collect();
        assert_eq!(cols, ["a\u{2401}b", "\u{2409}"]);
    }

    #[test]
    fn long_labels_are_cut_but_titles_keep_them() {
        let long = "▁".to_string() + &"x".repeat(60);
        let columns = vec![long.clone()];
        let rows = vec![long.clone()];
        let weights = [1.0];
        let grid = Grid {
            title: "g".into(),
            weights: &weights,
        };
        let out = svg(&columns, &rows, &[grid], 1).unwrap();
        let doc = parse(&out);
        let row = doc.descendants().find(|n| has_class(n, "row")).unwrap();
        let shown = row.text().unwrap();
        assert!(shown.ends_with('…') && units(shown) <= MAX_LABEL_UNITS);
        assert_eq!(row.first_element_child().unwrap().text(), Some(&long[..]));
        let cell = doc.descendants().find(|n| has_class(n, "cell")).unwrap();
        let title = cell.first_element_child().unwrap().text().unwrap();
        assert!(title.starts_with(&format!("{long} → {long}")));
    }

    #[test]
    fn labels_stay_clear_of_the_grid() {
        let long = "▁".to_string() + &"w".repeat(40);
        let columns = pieces(&["a", &long, "世界世界世界"]);
        let rows = pieces(&[&long, "b"]);
        let labels_c = labels(&columns);
        let labels_r = labels(&rows);
        let weights = [0.0; 6];
        let grid = Grid {
            title: "a title much wider than the grid itself".into(),
            weights: &weights,
        };
        let layout = Layout::new(&labels_c, &labels_r, &[grid], 1);
        // Row labels end before the grid and start inside the panel.
        let widest_row = labels_r.iter().map(|l| l.width).fold(0.0, f64::max);
        assert!((layout.grid_x - LABEL_GAP) as f64 - widest_row >= 0.0);
        // Rotated column labels end below the title band and inside the panel.
        let (sin, cos) = COLUMN_ANGLE.to_radians().sin_cos();
        for (c, l) in labels_c.iter().enumerate() {
            let top = (layout.grid_y - LABEL_GAP) as f64 - l.width * sin - FONT as f64;
            assert!(
                top >= TITLE_HEIGHT as f64 - 1.0,
                "column {c} reaches the title"
            );
            let right = column_anchor(layout.grid_x, c) as f64 + l.width * cos;
            assert!(right <= layout.panel_width as f64);
        }
        assert!(layout.panel_width as f64 >= 39.0 * TITLE_CHAR_WIDTH);
    }

    #[test]
    fn shading_darkens_with_the_weight() {
        let columns: Vec<String> = (0..21).map(|i| format!("s{i}")).collect();
        let rows = pieces(&["t"]);
        let weights: Vec<f32> = (0..21).map(|i| i as f32 / 20.0).collect();
        let grid = Grid {
            title: "ramp".into(),
            weights: &weights,
        };
        let out = svg(&columns, &rows, &[grid], 1).unwrap();
        let doc = parse(&out);
        let fills: Vec<&str> = doc
            .descendants()
            .filter(|n| has_class(n, "cell"))
            .map(|n| n.attribute("fill").unwrap())
            .collect();
        assert_eq!(fills.len(), 21);
        assert_eq!(fills[0], "#ffffff");
        assert_eq!(fills[20], hex(RAMP[RAMP.len() - 1]));
        for pair in fills.windows(2) {
            assert!(luminance(pair[1]) < luminance(pair[0]), "{pair:?}");
        }
    }

    #[test]
    fn odd_weights_are_clamped() {
        assert_eq!(shade(f32::NAN), shade(0.0));
        assert_eq!(shade(-3.0), shade(0.0));
        assert_eq!(shade(7.0), shade(1.0));
        assert_eq!(shade(f32::INFINITY), shade(1.0));
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let columns = pieces(&["a", "b", "c"]);
        let rows = pieces(&["x", "y"]);
        let good = [0.0; 6];
        let bad = [0.0; 5];
        let grids = [
            Grid {
                title: "ok".into(),
                weights: &good,
            },
            Grid {
                title: "short".into(),
                weights: &bad,
            },
        ];
        let expected = HeatmapError::WrongLength {
            grid: 1,
            rows: 2,
            columns: 3,
            weights: 5,
        };
        assert_eq!(svg(&columns, &rows, &grids, 2), Err(expected.clone()));
        assert_eq!(html(&columns, &rows, &grids, 2), Err(expected.clone()));
        assert_eq!(
            expected.to_string(),
            "attention grid 1 has 5 weights, not 2 rows x 3 columns"
        );
    }

    #[test]
    fn empty_inputs_give_valid_pictures() {
        let none: [f32; 0] = [];
        let empty_grid = || Grid {
            title: "empty".into(),
            weights: &none,
        };
        for (columns, rows) in [
            (vec![], vec![]),
            (pieces(&["a"]), vec![]),
            (vec![], pieces(&["x"])),
        ] {
            let out = svg(&columns, &rows, &[empty_grid()], 0).unwrap();
            assert_eq!(count_class(&parse(&out), "cell"), 0);
        }
        let out = svg(&[], &[], &[], 4).unwrap();
        let doc = parse(&out);
        assert_eq!(count_class(&doc, "panel"), 0);
        assert_eq!(count_class(&doc, "legend"), 1);
    }

    #[test]
    fn output_is_deterministic() {
        let (columns, rows, weights) = sample();
        let grids = sample_grids(&weights);
        assert_eq!(
            svg(&columns, &rows, &grids, 3),
            svg(&columns, &rows, &grids, 3)
        );
        assert_eq!(
            html(&columns, &rows, &grids, 3),
            html(&columns, &rows, &grids, 3)
        );
    }

    #[test]
    fn html_holds_a_well_formed_svg_and_no_external_resources() {
        let (columns, rows, weights) = sample();
        let grids = sample_grids(&weights);
        let page = html(&columns, &rows, &grids, 3).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        let start = page.find("<svg").unwrap();
        let end = page.rfind("</svg>").unwrap() + "</svg>".len();
        let doc = parse(&page[start..end]);
        assert_eq!(count_class(&doc, "cell"), 6 * 64);
        assert!(page.contains("<script>") && page.contains("mouseover"));
        for external in ["src=", "href=", "http://", "https://", "@import"] {
            let hits = page.matches(external).count();
            // The SVG namespace is the one URL, and it is never fetched.
            let allowed = usize::from(external == "http://");
            assert_eq!(hits, allowed, "{external}");
        }
    }

    /// Writes the sample to the temporary directory for looking at:
    /// `cargo test -p tern --lib heatmap::tests::write_sample -- --ignored`.
    #[test]
    #[ignore]
    fn write_sample() {
        let (columns, rows, weights) = sample();
        let grids = sample_grids(&weights);
        let dir = std::env::temp_dir();
        let picture = svg(&columns, &rows, &grids, 3).unwrap();
        std::fs::write(dir.join("heatmap_sample.svg"), picture).unwrap();
        let page = html(&columns, &rows, &grids, 3).unwrap();
        std::fs::write(dir.join("heatmap_sample.html"), page).unwrap();
        let mean: Vec<f32> = (0..weights[0].len())
            .map(|i| weights.iter().map(|w| w[i]).sum::<f32>() / weights.len() as f32)
            .collect();
        let average = Grid {
            title: "average".into(),
            weights: &mean,
        };
        let picture = svg(&columns, &rows, &[average], 1).unwrap();
        std::fs::write(dir.join("heatmap_sample_average.svg"), picture).unwrap();
        let awkward = pieces(&[
            "▁<b>&\"x\"",
            "▁supercalifragilisticexpialidocious",
            "世界",
            "'",
        ]);
        let weights = [0.0, 0.2, 0.5, 1.0, 0.9, 0.05, 0.05, 0.0];
        let grid = Grid {
            title: "awkward pieces".into(),
            weights: &weights,
        };
        let picture = svg(&awkward, &awkward[..2], &[grid], 1).unwrap();
        std::fs::write(dir.join("heatmap_sample_awkward.svg"), picture).unwrap();
    }
}
