//! Values from outside (emails, names, API error bodies) made safe for a terminal or a spreadsheet:
//! characters a terminal acts on (ESC sequences that clear the screen or set its title, BEL, bidi
//! overrides that reorder what is shown) are printed as visible escapes such as `\u{1b}`.

use std::borrow::Cow;
use std::fmt::Write;

/// C0 controls (newline and tab included), DEL, C1 controls, the Unicode line and paragraph
/// separators, and the bidi controls (embeddings, overrides, isolates and marks).
pub fn is_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{061c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// Appends `c` as a visible escape: `\n`, `\r`, `\t`, else `\u{XX}` (hex, as Rust writes it).
pub fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_control(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_control(c) && !keep(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A value shown on one line: every control character, newline included, escaped.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

/// Text of several lines (a whole rendered output, an error message): as [`line`], newlines kept.
pub fn block(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n')
}

/// [`block`] of an owned string, without a copy when nothing needs escaping.
pub fn block_owned(s: String) -> String {
    if let Cow::Owned(escaped) = block(&s) {
        escaped
    } else {
        s
    }
}

/// A spreadsheet cell: a value a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab or
/// CR first, as OWASP lists) gets a leading `'`; then control characters are escaped as by
/// [`block`] (a quoted cell may span lines).
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{}", block(s)))
    } else {
        block(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_visible() {
        assert_eq!(
            line("a\u{1b}]0;pwned\u{7}b\u{1b}[2J"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{1b}[2J"
        );
        assert_eq!(line("x\u{9b}31m\u{7f}"), "x\\u{9b}31m\\u{7f}");
        assert_eq!(
            line("\u{202e}moc.evil\u{202c}\u{2066}\u{2069}\u{200f}\u{61c}\u{2028}"),
            "\\u{202e}moc.evil\\u{202c}\\u{2066}\\u{2069}\\u{200f}\\u{61c}\\u{2028}"
        );
        assert_eq!(line("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(block("a\nb\u{1b}\n"), "a\nb\\u{1b}\n");
        assert_eq!(block("x\r\n"), "x\\r\n");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in ["ana@example.com", "Zoë Ünal — 東京 \\ \u{200b}", ""] {
            assert!(matches!(line(s), Cow::Borrowed(b) if b == s));
        }
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2+3"), "'-2+3");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\t=1"), "'\\t=1");
        assert_eq!(csv_cell("\r=1"), "'\\r=1");
        assert_eq!(csv_cell("ana@example.com"), "ana@example.com");
        assert_eq!(csv_cell("a\nb\u{1b}"), "a\nb\\u{1b}");
    }
}
