-- CiSP Fusion facts. Written by the fusion service in batches; every table is
-- a ReplacingMergeTree keyed by the fact's natural identity, so a batch that
-- is retried, or re-derived after a crash, does not double-count once merged
-- (query with FINAL, or argMax/uniqExact, where exact counts matter).
-- Portable SQL: accepted by ClickHouse 18.16 (Debian) and current releases.

CREATE TABLE IF NOT EXISTS submissions
(
    member_id String,
    submission_id String,
    seq UInt64,
    submitted_at DateTime,
    ingested_at DateTime,
    kind String,
    tlp String,
    scope String,
    anonymous UInt8,
    sector String,
    title String,
    observable_count UInt32,
    ttps Array(String),
    malware Array(String),
    actor_claims Array(String),
    targeted_sectors Array(String),
    confidence UInt8,
    campaign_id String,
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    body String
)
ENGINE = ReplacingMergeTree(seq)
PARTITION BY toYYYYMM(submitted_at)
ORDER BY (member_id, submission_id);

CREATE TABLE IF NOT EXISTS observations
(
    observed_at DateTime,
    ingested_at DateTime,
    member_id String,
    submission_id String,
    seq UInt64,
    obs_type String,
    value String,
    role String,
    campaign_id String,
    kind String,
    tlp String,
    scope String,
    anonymous UInt8,
    sector String,
    confidence UInt8
)
ENGINE = ReplacingMergeTree(seq)
PARTITION BY toYYYYMM(observed_at)
ORDER BY (obs_type, value, member_id, submission_id);

CREATE TABLE IF NOT EXISTS alerts
(
    alert_id String,
    recipient String,
    created_at DateTime,
    kind String,
    severity String,
    tlp String,
    campaign_id String,
    trigger_member String,
    trigger_submission String,
    provenance Array(String),
    related_count UInt32,
    shared_count UInt32,
    other_member_count UInt32,
    summary String,
    publish_to_alert_ms Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (recipient, alert_id);

CREATE TABLE IF NOT EXISTS campaigns
(
    campaign_id String,
    version UInt64,
    merged_into String,
    submission_count UInt32,
    member_count UInt32,
    observable_count UInt32,
    member_ids Array(String),
    sectors Array(String),
    tlp String,
    first_seen DateTime,
    last_seen DateTime,
    updated_at DateTime
)
ENGINE = ReplacingMergeTree(version)
ORDER BY campaign_id;

CREATE TABLE IF NOT EXISTS dead_letters
(
    received_at DateTime,
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    member_id String,
    reason_code String,
    reason String,
    payload_size UInt64,
    payload_hex String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (source_topic, source_partition, source_offset);
