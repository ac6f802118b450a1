//! The STIX 2.1 patterning language, as far as indicators of compromise
//! need it: observation expressions in brackets joined by `AND`, `OR` and
//! `FOLLOWEDBY`, comparisons joined by `AND`/`OR` inside, parentheses,
//! qualifiers (`WITHIN`, `START … STOP`, `REPEATS`) parsed and ignored.
//!
//! What comes out is every `object-path = 'literal'` (and `IN (…)`)
//! comparison: those name exact values. `!=`, `LIKE`, `MATCHES` and
//! ordering comparisons describe sets of values and yield nothing (the
//! caller notes them). Under `AND`, each exact value is still evidence of
//! the same activity, so all of them are kept.
//!
//! The parser is a hand-written recursive descent over a bounded input
//! (patterns over 64 KiB or nested deeper than 32 are refused).

const MAX_LEN: usize = 64 * 1024;
const MAX_DEPTH: usize = 32;

/// One comparison of the pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// `file`, `ipv4-addr`, …
    pub object: String,
    /// `value`, `hashes.SHA-256`, `from_ref.value` (quotes removed).
    pub path: String,
    pub op: String,
    pub negated: bool,
    /// The string and integer literals compared with (others are left out).
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Op(String),
    Word(String),
    Str(String),
    Other(String),
}

fn tokenize(p: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'[' => {
                out.push(Tok::LBracket);
                i += 1
            }
            b']' => {
                out.push(Tok::RBracket);
                i += 1
            }
            b'(' => {
                out.push(Tok::LParen);
                i += 1
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1
            }
            b'=' => {
                out.push(Tok::Op("=".into()));
                i += 1
            }
            b'!' | b'<' | b'>' => {
                let two = b.get(i + 1) == Some(&b'=');
                let op = if two { &p[i..i + 2] } else { &p[i..i + 1] };
                if op == "!" {
                    return Err("'!' must be followed by '='".into());
                }
                out.push(Tok::Op(op.to_owned()));
                i += if two { 2 } else { 1 };
            }
            b'\'' => {
                let (s, next) = string_literal(p, i + 1)?;
                out.push(Tok::Str(s));
                i = next;
            }
            _ => {
                // A word: identifier, number, path (file:hashes.'SHA-256'
                // keeps its quoted parts), or a prefixed literal t'…'/b'…'/h'…'.
                if matches!(c, b't' | b'b' | b'h') && b.get(i + 1) == Some(&b'\'') {
                    let (s, next) = string_literal(p, i + 2)?;
                    out.push(Tok::Other(s));
                    i = next;
                    continue;
                }
                let start = i;
                let mut word = String::new();
                while i < b.len() {
                    let c = b[i];
                    if c == b'\'' && !word.is_empty() && word.ends_with('.') {
                        let (s, next) = string_literal(p, i + 1)?;
                        word.push_str(&s);
                        i = next;
                    } else if let Some(len) = list_index(&b[i..]).filter(|_| word.contains(':')) {
                        // `resolves_to_refs[*]`, `values[0]`: a list index
                        // is part of the object path (STIX 2.1 §9.3).
                        word.push_str(&p[i..i + len]);
                        i += len;
                    } else if c.is_ascii_alphanumeric()
                        || matches!(c, b'-' | b'_' | b':' | b'.' | b'*' | b'+')
                    {
                        word.push(c as char);
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i == start {
                    return Err(format!(
                        "unexpected character {:?} at byte {i}",
                        p[i..].chars().next().unwrap_or('?')
                    ));
                }
                out.push(Tok::Word(word));
            }
        }
    }
    Ok(out)
}

/// The length of a list index (`[*]`, `[12]`) at the start of `b`.
fn list_index(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'[') {
        return None;
    }
    let close = b.iter().take(12).position(|&c| c == b']')?;
    let inner = &b[1..close];
    (inner == b"*" || (!inner.is_empty() && inner.iter().all(u8::is_ascii_digit)))
        .then_some(close + 1)
}

/// An object path without its list indexes: `resolves_to_refs[*].value`
/// → `resolves_to_refs.value`.
pub fn without_indexes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        match list_index(&rest.as_bytes()[i..]) {
            Some(len) => rest = &rest[i + len..],
            None => {
                out.push('[');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A `'…'` literal starting after its opening quote; `\'` and `\\` escape.
fn string_literal(p: &str, mut i: usize) -> Result<(String, usize), String> {
    let b = p.as_bytes();
    let mut s = Vec::new();
    while i < b.len() {
        match b[i] {
            b'\\' => {
                match b.get(i + 1) {
                    Some(&e @ (b'\'' | b'\\')) => s.push(e),
                    _ => return Err(format!("invalid escape at byte {i}")),
                }
                i += 2;
            }
            b'\'' => {
                let s = String::from_utf8(s).map_err(|_| "literal is not UTF-8".to_owned())?;
                return Ok((s, i + 1));
            }
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    Err("unterminated string literal".into())
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    out: Vec<Comparison>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    /// pattern := observation (AND|OR|FOLLOWEDBY observation)*
    fn pattern(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("pattern nested too deeply".into());
        }
        self.observation(depth)?;
        while self.keyword("AND") || self.keyword("OR") || self.keyword("FOLLOWEDBY") {
            self.pos += 1;
            self.observation(depth)?;
        }
        Ok(())
    }

    /// observation := '[' comparisons ']' qualifier* | '(' pattern ')' qualifier*
    fn observation(&mut self, depth: usize) -> Result<(), String> {
        match self.next() {
            Some(Tok::LBracket) => {
                self.comparisons(depth + 1)?;
                match self.next() {
                    Some(Tok::RBracket) => {}
                    other => return Err(format!("expected ']' , found {other:?}")),
                }
            }
            Some(Tok::LParen) => {
                self.pattern(depth + 1)?;
                match self.next() {
                    Some(Tok::RParen) => {}
                    other => return Err(format!("expected ')', found {other:?}")),
                }
            }
            other => return Err(format!("expected '[' or '(', found {other:?}")),
        }
        self.qualifiers()
    }

    fn qualifiers(&mut self) -> Result<(), String> {
        loop {
            if self.keyword("WITHIN") {
                self.pos += 1;
                self.expect_word()?; // number
                self.expect_word()?; // SECONDS
            } else if self.keyword("REPEATS") {
                self.pos += 1;
                self.expect_word()?; // number
                self.expect_word()?; // TIMES
            } else if self.keyword("START") {
                self.pos += 1;
                self.expect_time()?;
                if !self.keyword("STOP") {
                    return Err("START without STOP".into());
                }
                self.pos += 1;
                self.expect_time()?;
            } else {
                return Ok(());
            }
        }
    }

    fn expect_word(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Tok::Word(_)) => Ok(()),
            other => Err(format!("expected a number or keyword, found {other:?}")),
        }
    }

    fn expect_time(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Tok::Other(_)) => Ok(()),
            other => Err(format!("expected a t'…' timestamp, found {other:?}")),
        }
    }

    /// comparisons := comparison ((AND|OR) comparison)*
    fn comparisons(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("pattern nested too deeply".into());
        }
        self.comparison(depth)?;
        while self.keyword("AND") || self.keyword("OR") {
            self.pos += 1;
            self.comparison(depth)?;
        }
        Ok(())
    }

    fn comparison(&mut self, depth: usize) -> Result<(), String> {
        if matches!(self.peek(), Some(Tok::LParen)) {
            self.pos += 1;
            self.comparisons(depth + 1)?;
            return match self.next() {
                Some(Tok::RParen) => Ok(()),
                other => Err(format!("expected ')', found {other:?}")),
            };
        }
        let path = match self.next() {
            Some(Tok::Word(w)) => w,
            other => return Err(format!("expected an object path, found {other:?}")),
        };
        let Some((object, property)) = path.split_once(':') else {
            return Err(format!("object path {path:?} has no ':'"));
        };
        if object.is_empty() || property.is_empty() {
            return Err(format!("object path {path:?} is incomplete"));
        }
        let mut negated = false;
        if self.keyword("NOT") {
            negated = true;
            self.pos += 1;
        }
        let op = match self.next() {
            Some(Tok::Op(op)) => op,
            Some(Tok::Word(w))
                if ["LIKE", "MATCHES", "IN", "ISSUBSET", "ISSUPERSET"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                w.to_ascii_uppercase()
            }
            other => return Err(format!("expected a comparison operator, found {other:?}")),
        };
        let mut values = Vec::new();
        if op == "IN" {
            match self.next() {
                Some(Tok::LParen) => {}
                other => return Err(format!("IN needs a list, found {other:?}")),
            }
            loop {
                match self.next() {
                    Some(Tok::Str(s)) => values.push(s),
                    Some(Tok::Word(w)) if w.parse::<i64>().is_ok() => values.push(w),
                    Some(Tok::Word(_) | Tok::Other(_)) => {}
                    other => {
                        return Err(format!("expected a literal in the list, found {other:?}"))
                    }
                }
                match self.next() {
                    Some(Tok::Comma) => continue,
                    Some(Tok::RParen) => break,
                    other => return Err(format!("expected ',' or ')', found {other:?}")),
                }
            }
        } else {
            match self.next() {
                Some(Tok::Str(s)) => values.push(s),
                Some(Tok::Word(w)) if w.parse::<i64>().is_ok() => values.push(w),
                Some(Tok::Word(_) | Tok::Other(_)) => {}
                other => return Err(format!("expected a literal, found {other:?}")),
            }
        }
        self.out.push(Comparison {
            object: object.to_owned(),
            path: property.to_owned(),
            op,
            negated,
            values,
        });
        Ok(())
    }
}

/// Parses `pattern`; the error says where it went wrong.
pub fn parse(pattern: &str) -> Result<Vec<Comparison>, String> {
    if pattern.len() > MAX_LEN {
        return Err(format!(
            "pattern of {} bytes is over {MAX_LEN}",
            pattern.len()
        ));
    }
    let toks = tokenize(pattern)?;
    let mut p = Parser {
        toks,
        pos: 0,
        out: Vec::new(),
    };
    p.pattern(0)?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected {:?} after the pattern", p.toks[p.pos]));
    }
    Ok(p.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(p: &str) -> Vec<(String, String, String)> {
        parse(p)
            .expect("parses")
            .into_iter()
            .filter(|c| (c.op == "=" || c.op == "IN") && !c.negated)
            .flat_map(|c| {
                c.values
                    .iter()
                    .map(|v| (c.object.clone(), c.path.clone(), v.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn simple_and_compound_patterns() {
        assert_eq!(
            exact("[ipv4-addr:value = '198.51.100.1']"),
            vec![("ipv4-addr".into(), "value".into(), "198.51.100.1".into())]
        );
        let got = exact(
            "[file:hashes.'SHA-256' = 'aa' OR file:hashes.MD5 = 'bb'] AND [domain-name:value = 'x.example'] WITHIN 300 SECONDS",
        );
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1, "hashes.SHA-256");
        assert_eq!(got[1].1, "hashes.MD5");
        let got = exact("([url:value = 'http://a/\\'q'] FOLLOWEDBY [email-message:from_ref.value = 'a@b.example']) START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00Z'");
        assert_eq!(got[0].2, "http://a/'q");
        assert_eq!(got[1].1, "from_ref.value");
        let got = exact("[ipv4-addr:value IN ('203.0.113.1', '203.0.113.2') AND network-traffic:dst_port = 443]");
        assert_eq!(got.len(), 3, "the port is an integer literal: {got:?}");
        assert_eq!(got[2].2, "443");
    }

    #[test]
    fn list_indexes_are_part_of_the_path() {
        // What MISP's STIX exporter writes for every domain|ip attribute.
        let got = exact("[domain-name:value = 'x.example' AND domain-name:resolves_to_refs[*].value = '198.51.100.7']");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, "resolves_to_refs[*].value");
        assert_eq!(without_indexes(&got[1].1), "resolves_to_refs.value");
        let got = exact("[email-message:to_refs[0].value = 'a@b.example']");
        assert_eq!(without_indexes(&got[0].1), "to_refs.value");
        assert!(
            parse("[a:b[x] = 'c']").is_err(),
            "only * and numbers index a list"
        );
    }

    #[test]
    fn non_exact_comparisons_are_parsed_but_not_exact() {
        let all = parse("[domain-name:value LIKE '%.example' AND ipv4-addr:value NOT = '1.2.3.4' AND file:size > 100 AND file:name MATCHES '^a']").expect("parses");
        assert_eq!(all.len(), 4);
        assert!(all[1].negated);
        assert!(exact("[domain-name:value LIKE '%.example']").is_empty());
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        for bad in [
            "",
            "[",
            "[ipv4-addr:value = '1.2.3.4'",
            "ipv4-addr:value = '1.2.3.4'",
            "[ipv4-addr = '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4] ",
            "[ipv4-addr:value ~ '1']",
            "[a:b = 'c'] AND",
            "[a:b = 'c'] WITHIN",
            "[a:b = 'c'] START t'x'",
            "[a:b = 'c'] garbage",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let deep = format!("{}[a:b = 'c']{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).expect_err("too deep").contains("deeply"));
    }
}
