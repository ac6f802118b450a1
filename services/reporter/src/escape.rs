//! Escaping for every output the report writes. Anything a member supplied
//! (titles, actor claims, malware names, technique ids, alert summaries)
//! passes through one of these before it reaches a file.

/// HTML / XML / SVG text and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
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

/// Markdown inline text (also safe inside a table cell): characters that
/// start emphasis, code, links, images, headings, tables, strike-through or
/// maths are backslash-escaped, HTML's `<`, `>` and `&` become entities,
/// and line breaks become spaces, so member text cannot open a link, an
/// HTML element, or a new block. (Callers never start a line with it.)
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A shortened copy for tables and chart labels (on a char boundary).
pub fn clip(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        let evil = "<script>alert(1)</script>\"' onload=x [link](javascript:x) | col\n# head";
        let h = html(evil);
        assert!(!h.contains('<') && !h.contains('>') && !h.contains('"') && !h.contains('\''));
        assert!(!h.contains('\n'));
        let m = markdown(evil);
        assert!(!m.contains('<') && !m.contains('\n'));
        assert!(m.contains("\\[link\\](javascript:x)"), "{m}");
        assert!(m.contains("\\|"), "{m}");
        // Every '|' is escaped, so a table cell cannot be split.
        assert!(!m.replace("\\|", "").contains('|'));
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("ab", 4), "ab");
    }
}
