//! Load generators for the fusion service: the end-to-end benchmark's
//! backlog ([`generator`], `cisp-load`) and the clustering-quality
//! scenario with ground truth ([`scenario`], `cisp-quality`); the load
//! scenarios kept as folders under `load-tests/scenarios/`
//! ([`load_scenario`]).

pub mod attribution;
pub mod floor;
pub mod generator;
pub mod load_scenario;
pub mod scenario;
pub mod soak;
pub mod stack_quality;
