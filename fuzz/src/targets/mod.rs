//! The targets: each builds its corpus from the real encoders and checks
//! properties of what comes out, not only that nothing panics. One module
//! per target; what they share (error checks, corpus keeping, the codec
//! and registry) is here.

mod ids;
mod intake;
mod observables;
mod outputs;
mod submission;

pub(crate) use ids::IdsTarget;
pub(crate) use intake::IntakeTarget;
pub(crate) use observables::ObservablesTarget;
pub(crate) use outputs::OutputsTarget;
pub(crate) use submission::SubmissionTarget;

use std::sync::Arc;

use cisp_engine::EngineConfig;
use cisp_model::*;
use cisp_wire::{Codec, DecodeLimits};

use crate::gen::{self};
use crate::mutate::Rng;
use crate::Verdict;

/// An error shown to a member (dead-letter reason) or in a log line must
/// stay short whatever the input, and name its reason.
pub(super) const MAX_ERROR_LEN: usize = 1024;

pub(super) fn check_error(code: &'static str, message: &str) -> Verdict {
    if code.is_empty() {
        return Verdict::Broken(format!("error without a reason code: {message:.200}"));
    }
    if message.len() > MAX_ERROR_LEN {
        return Verdict::Broken(format!(
            "{code} error of {} bytes (limit {MAX_ERROR_LEN}): {:.200}",
            message.len(),
            message
        ));
    }
    Verdict::Rejected(code)
}

/// Keeps at most `cap` entries, replacing a random one when full.
pub(super) fn keep(corpus: &mut Vec<Vec<u8>>, rng: &mut Rng, input: &[u8], cap: usize) {
    if corpus.len() < cap {
        corpus.push(input.to_vec());
    } else {
        let i = rng.below(cap);
        corpus[i] = input.to_vec();
    }
}

pub(super) fn codec() -> Codec {
    Codec::new(DecodeLimits::default()).expect("the embedded schemas parse")
}

pub(super) fn registry() -> Arc<Registry> {
    Arc::new(Registry::from_toml_str(gen::REGISTRY).expect("the shipped registry parses"))
}

pub(super) const MAX_INPUT: usize = 2 * 1024 * 1024; // above the 1 MiB message limit

/// The engine as the fuzz targets run it.
pub(super) fn engine_config() -> EngineConfig {
    EngineConfig {
        id_salt: cisp_model::Secret::new("fuzz"),
        ..EngineConfig::default()
    }
}
