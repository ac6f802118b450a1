//! A load scenario: the parameters of one `cisp-load` run, kept in
//! `load-tests/scenarios/<name>/scenario.toml` so a figure in BENCHMARKS.md
//! names the folder that reproduces it. Unknown keys are refused.

use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadScenario {
    /// One line: what the scenario stands for.
    pub description: String,
    pub seed: u64,
    /// Records to publish (submissions and malformed records).
    pub records: u64,
    /// Member organisations publishing.
    pub members: u64,
    /// Observables per submission: 1 to this many.
    pub max_observables: u64,
    /// Percentage of submissions that belong to a planted campaign.
    pub campaign_percent: u64,
    pub campaigns: u64,
    pub malformed_percent: u64,
    pub shared_hosting_percent: u64,
    pub warnlisted_percent: u64,
    /// Seconds of paced load per latency level; 0 skips the latency phase.
    #[serde(default)]
    pub latency_seconds: u64,
    /// Offered load of each latency level, as a percentage of the maximum
    /// throughput measured in the same run.
    #[serde(default = "default_levels")]
    pub latency_levels: Vec<u64>,
    /// Overrides the service's `kafka.batch_max_age_ms` for the run.
    #[serde(default)]
    pub batch_max_age_ms: Option<u64>,
}

fn default_levels() -> Vec<u64> {
    vec![25, 50, 90]
}

impl LoadScenario {
    /// Reads `<dir>/scenario.toml`.
    pub fn load(dir: &Path) -> anyhow::Result<LoadScenario> {
        let path = dir.join("scenario.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let s: LoadScenario =
            toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
        s.check()
            .with_context(|| format!("invalid {}", path.display()))?;
        Ok(s)
    }

    pub fn check(&self) -> anyhow::Result<()> {
        if !(1..=10_000_000).contains(&self.records) {
            bail!("records must be 1 to 10 000 000");
        }
        if !(1..=10_000).contains(&self.members) {
            bail!("members must be 1 to 10 000");
        }
        if !(1..=1000).contains(&self.max_observables) {
            bail!("max_observables must be 1 to 1000 (the service's limit)");
        }
        if self.campaigns == 0 {
            bail!("campaigns must be at least 1");
        }
        for (name, p) in [
            ("campaign_percent", self.campaign_percent),
            ("malformed_percent", self.malformed_percent),
            ("shared_hosting_percent", self.shared_hosting_percent),
            ("warnlisted_percent", self.warnlisted_percent),
        ] {
            if p > 100 {
                bail!("{name} must be 0 to 100");
            }
        }
        if self
            .batch_max_age_ms
            .is_some_and(|a| !(20..=60_000).contains(&a))
        {
            bail!("batch_max_age_ms must be 20 to 60000 (at least the linger)");
        }
        if self.latency_levels.iter().any(|l| !(1..=100).contains(l)) {
            bail!("latency_levels are percentages of the maximum, 1 to 100");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_shipped_scenario_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let dir = entry.unwrap().path();
            let s = LoadScenario::load(&dir).unwrap();
            assert!(!s.description.is_empty(), "{}", dir.display());
            n += 1;
        }
        assert!(n >= 4, "{n} scenarios");
        let default = LoadScenario::load(&root.join("default")).unwrap();
        assert_eq!(default.records, 20_000);
    }

    #[test]
    fn bad_scenarios_are_refused() {
        let base =
            "description = \"x\"\nseed = 1\nrecords = 10\nmembers = 2\nmax_observables = 5\n\
                    campaign_percent = 20\ncampaigns = 3\nmalformed_percent = 1\n\
                    shared_hosting_percent = 5\nwarnlisted_percent = 2\n";
        let parse = |t: &str| -> anyhow::Result<LoadScenario> {
            let s: LoadScenario = toml::from_str(t)?;
            s.check()?;
            Ok(s)
        };
        assert!(parse(base).is_ok());
        assert!(parse(&format!("{base}surprise = 1\n")).is_err());
        assert!(parse(&base.replace("max_observables = 5", "max_observables = 5000")).is_err());
        assert!(parse(&format!("{base}latency_levels = [0]\n")).is_err());
        assert!(
            parse(&base.replace("warnlisted_percent = 2", "warnlisted_percent = 200")).is_err()
        );
    }
}
