//! Ids and enumerations.

use cisp_model::*;

use super::{check_error, keep};
use crate::gen::TOKENS;
use crate::mutate::{mutate, Rng};
use crate::{Harness, Verdict};

/// Ids and enumerations. Input: one byte choosing the parser, then text.
pub(crate) struct IdsTarget {
    corpus: Vec<Vec<u8>>,
}

const ID_SEEDS: [&str; 16] = [
    "northbank",
    "fin-isac",
    "finance",
    "F-1",
    "AMBER+STRICT",
    "tlp:white",
    "TLP:CLEAR",
    "COMMUNITY",
    "sharing-groups",
    "phishing",
    "payload-delivery",
    "IPV4",
    "a",
    "-x-",
    "ab--cd",
    "",
];

const PARSERS: u8 = 9;

impl IdsTarget {
    pub(crate) fn new() -> IdsTarget {
        let mut corpus = Vec::new();
        for p in 0..PARSERS {
            for s in ID_SEEDS {
                let mut b = vec![p];
                b.extend_from_slice(s.as_bytes());
                corpus.push(b);
            }
        }
        IdsTarget { corpus }
    }
}

/// Parses `s` with parser `p`; on success, checks that the canonical form
/// parses back to the same value.
fn parse_id(p: u8, s: &str) -> Result<bool, ModelError> {
    Ok(match p % PARSERS {
        0 => {
            let v = MemberId::parse(s)?;
            MemberId::parse(v.as_str()).as_ref() == Ok(&v)
        }
        1 => {
            let v = GroupId::parse(s)?;
            GroupId::parse(v.as_str()).as_ref() == Ok(&v)
        }
        2 => {
            let v = SectorId::parse(s)?;
            SectorId::parse(v.as_str()).as_ref() == Ok(&v)
        }
        3 => {
            let v = SubmissionId::parse(s)?;
            SubmissionId::parse(v.as_str()).as_ref() == Ok(&v)
        }
        4 => {
            let v = Tlp::parse(s)?;
            Tlp::parse(v.symbol()) == Ok(v) && Tlp::parse(v.label()) == Ok(v)
        }
        5 => {
            let v = Scope::parse(s)?;
            Scope::parse(v.name()) == Ok(v)
        }
        6 => {
            let v = SubmissionKind::parse(s)?;
            SubmissionKind::parse(v.name()) == Ok(v)
        }
        7 => {
            let v = ObservableRole::parse(s)?;
            ObservableRole::parse(v.name()) == Ok(v)
        }
        _ => {
            let v = ObservableKind::parse(s)?;
            ObservableKind::parse(v.name()) == Ok(v)
        }
    })
}

impl Harness for IdsTarget {
    fn next_input(&mut self, rng: &mut Rng) -> Vec<u8> {
        let mut b = rng.pick(&self.corpus).clone();
        let other = rng.pick(&self.corpus).clone();
        let p = b.first().copied().unwrap_or(0);
        mutate(rng, &mut b, &TOKENS, &other, 4096);
        if rng.chance(90) && !b.is_empty() {
            b[0] = p;
        }
        b
    }

    fn run(&mut self, input: &[u8], rng: &mut Rng) -> Verdict {
        let Some((&p, raw)) = input.split_first() else {
            return Verdict::Rejected("empty");
        };
        let raw = String::from_utf8_lossy(raw);
        match parse_id(p, &raw) {
            Err(e) => check_error(e.reason_code(), &e.to_string()),
            Ok(true) => {
                keep(&mut self.corpus, rng, input, 2048);
                Verdict::Accepted
            }
            Ok(false) => Verdict::Broken(format!(
                "parser {}: the canonical form of {raw:?} does not parse back to it",
                p % PARSERS
            )),
        }
    }

    fn reset(&mut self) {}
}
