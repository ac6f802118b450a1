//! Reading what the fusion service wrote for a member (alerts, campaign
//! updates) back from the broker, as the gateway's own broker user.

use std::time::Duration;

use cisp_wire::records::AlertRecord;
use cisp_wire::{Codec, DecodeLimits, RecordType};
use rdkafka::ClientConfig;

/// Every alert on `topic` with the broker's timestamp, oldest first.
pub fn read_alerts(
    client: &ClientConfig,
    group: &str,
    topic: &str,
) -> anyhow::Result<Vec<(i64, AlertRecord)>> {
    read_records(client, group, topic, RecordType::Alert)
}

/// Every record of type `rt` on `topic`, from the beginning to its end
/// when called, with the broker's timestamp, oldest first. Records that do
/// not decode are skipped (only the fusion service writes these topics).
pub fn read_records<T: serde::de::DeserializeOwned>(
    client: &ClientConfig,
    group: &str,
    topic: &str,
    rt: RecordType,
) -> anyhow::Result<Vec<(i64, T)>> {
    let raw =
        cisp_platform::kafka::read_topic(client.clone(), group, topic, Duration::from_secs(30))?;
    let codec = Codec::new(DecodeLimits::default())?;
    let mut out: Vec<(i64, T)> = raw
        .iter()
        .filter_map(|(ts, payload)| codec.decode::<T>(rt, payload).ok().map(|(r, _)| (*ts, r)))
        .collect();
    out.sort_by_key(|(ts, _)| *ts);
    Ok(out)
}
