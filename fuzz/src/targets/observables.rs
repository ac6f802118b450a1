//! Every observable normaliser.

use cisp_model::*;

use super::{check_error, keep};
use crate::gen::{self, TOKENS};
use crate::mutate::{mutate, Rng};
use crate::{Harness, Verdict};

/// Every observable normaliser. Input: one byte choosing the kind, then
/// the raw value.
pub(crate) struct ObservablesTarget {
    corpus: Vec<Vec<u8>>,
}

impl ObservablesTarget {
    pub(crate) fn new() -> ObservablesTarget {
        let mut corpus = Vec::new();
        for (i, kind) in ObservableKind::ALL.iter().enumerate() {
            for seed in gen::observable_seeds(*kind) {
                let mut b = vec![i as u8];
                b.extend_from_slice(seed.as_bytes());
                corpus.push(b);
            }
        }
        ObservablesTarget { corpus }
    }
}

impl Harness for ObservablesTarget {
    fn next_input(&mut self, rng: &mut Rng) -> Vec<u8> {
        if rng.chance(30) {
            let i = rng.below(ObservableKind::ALL.len());
            let mut b = vec![i as u8];
            b.extend_from_slice(gen::observable_value(rng, ObservableKind::ALL[i]).as_bytes());
            return b;
        }
        let mut b = rng.pick(&self.corpus).clone();
        let other = rng.pick(&self.corpus).clone();
        let kind = b.first().copied().unwrap_or(0);
        mutate(rng, &mut b, &TOKENS, &other, 16 * 1024);
        if rng.chance(90) && !b.is_empty() {
            b[0] = kind;
        }
        b
    }

    fn run(&mut self, input: &[u8], rng: &mut Rng) -> Verdict {
        let Some((&k, raw)) = input.split_first() else {
            return Verdict::Rejected("empty");
        };
        let kind = ObservableKind::ALL[k as usize % ObservableKind::ALL.len()];
        let raw = String::from_utf8_lossy(raw);
        match Observable::parse(kind, &raw) {
            Err(e) => check_error(e.reason_code(), &e.to_string()),
            Ok(o) => {
                if o.kind() != kind {
                    return Verdict::Broken(format!("{kind} parsed as {}", o.kind()));
                }
                if o.value().len() > 4 * Observable::MAX_RAW_LEN {
                    return Verdict::Broken(format!(
                        "{kind} normal form of {} bytes",
                        o.value().len()
                    ));
                }
                match Observable::parse(kind, o.value()) {
                    Ok(again) if again == o => {}
                    Ok(again) => {
                        return Verdict::Broken(format!(
                            "{kind}: normal form {:?} re-normalises to {:?}",
                            o.value(),
                            again.value()
                        ))
                    }
                    Err(e) => {
                        return Verdict::Broken(format!(
                            "{kind}: normal form {:?} is refused: {e}",
                            o.value()
                        ))
                    }
                }
                let _ = o.host();
                keep(&mut self.corpus, rng, input, 4096);
                Verdict::Accepted
            }
        }
    }

    fn reset(&mut self) {}
}
