//! The report's charts as inline SVG, written by hand: a chart here is a few rectangles and
//! labels, smaller and easier to read than a plotting crate's output (which also brings
//! font and raster code a page in a mail attachment never needs).

use std::fmt::Write;

/// Width of every chart, in CSS pixels (the page scales it down on a narrow screen).
const WIDTH: u32 = 760;

/// One horizontal bar.
pub struct Item<'a> {
    pub label: &'a str,
    pub value: u64,
    /// The text after the bar (a count, a percentage).
    pub note: String,
    pub color: &'static str,
}

/// Text for an HTML or SVG page: `<`, `>`, `&` and quotes become entities, so a cell of the
/// results file (hostile input) always shows as text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Horizontal bars, one per item, as long as its value relative to the largest;
/// `centered` draws them around a middle line, which makes a funnel.
pub fn bars(title: &str, items: &[Item<'_>], centered: bool) -> String {
    const ROW: u32 = 30;
    const LABEL: u32 = 190;
    const AREA: u32 = 440;
    let height = ROW * items.len() as u32 + 10;
    let max = items.iter().map(|i| i.value).max().unwrap_or(0).max(1);
    let mut svg = open(title, height);
    for (i, item) in items.iter().enumerate() {
        let y = 5 + ROW * i as u32;
        let width = ((item.value as f64 / max as f64) * f64::from(AREA)).round() as u32;
        let width = width.max(u32::from(item.value > 0));
        let x = LABEL + if centered { (AREA - width) / 2 } else { 0 };
        let label = escape(item.label);
        let note = escape(&item.note);
        let _ = write!(
            svg,
            r#"<text x="{lx}" y="{ty}" text-anchor="end" font-size="13">{label}</text><rect x="{x}" y="{y}" width="{width}" height="{h}" rx="3" fill="{color}"><title>{label}: {note}</title></rect><text x="{nx}" y="{ty}" font-size="13">{note}</text>"#,
            lx = LABEL - 8,
            ty = y + 17,
            h = ROW - 8,
            color = item.color,
            nx = LABEL + AREA + 8,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Vertical bars over time (sends per hour), labelled under a handful of them.
pub fn columns(title: &str, bars: &[(String, u64)]) -> String {
    const HEIGHT: u32 = 220;
    const LEFT: u32 = 56;
    const BOTTOM: u32 = 36;
    const TOP: u32 = 12;
    let area = WIDTH - LEFT - 12;
    let plot = HEIGHT - BOTTOM - TOP;
    let max = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let step = f64::from(area) / bars.len().max(1) as f64;
    let mut svg = open(title, HEIGHT);
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}" stroke="#888"/><text x="{lx}" y="{ty}" text-anchor="end" font-size="12">{max}</text><text x="{lx}" y="{base}" text-anchor="end" font-size="12">0</text>"##,
        base = TOP + plot,
        right = LEFT + area,
        lx = LEFT - 6,
        ty = TOP + 10,
    );
    let every = bars.len().div_ceil(6).max(1);
    for (i, (label, sends)) in bars.iter().enumerate() {
        let h = ((*sends as f64 / max as f64) * f64::from(plot)).round() as u32;
        let h = h.max(u32::from(*sends > 0));
        let x = f64::from(LEFT) + step * i as f64;
        let label = escape(label);
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="{h}" fill="#2b6cb0"><title>{label}: {sends}</title></rect>"##,
            y = TOP + plot - h,
            w = (step * 0.85).clamp(1.0, 48.0),
        );
        if i % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{cx:.1}" y="{ty}" text-anchor="middle" font-size="11">{label}</text>"#,
                cx = (x + step / 2.0).clamp(f64::from(LEFT) + 40.0, f64::from(WIDTH) - 48.0),
                ty = HEIGHT - BOTTOM + 16,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn open(title: &str, height: u32) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{title}" font-family="sans-serif">"#,
        title = escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn bars_escape_labels_and_scale_to_the_largest() {
        let item = |label, value| Item {
            label,
            value,
            note: value.to_string(),
            color: "#000",
        };
        let svg = bars("t", &[item("<b>", 10), item("b", 5), item("c", 0)], false);
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains(r#"width="440""#) && svg.contains(r#"width="220""#));
        assert!(svg.contains(r#"width="0""#), "no bar for nothing: {svg}");
    }
}
