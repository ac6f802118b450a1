//! Load generators for the fusion service: the end-to-end benchmark's
//! backlog ([`generator`], `cisp-load`) and the clustering-quality
//! scenario with ground truth ([`scenario`], `cisp-quality`).

pub mod generator;
pub mod scenario;
