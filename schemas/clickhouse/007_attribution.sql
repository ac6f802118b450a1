-- Attribution changes (issue 26). `campaigns` keeps each campaign's
-- current attribution (the row with the highest version; a campaign
-- absorbed by a merge keeps none, its survivor carries it) and collapses
-- older versions; this table keeps the history an analyst audits: every
-- time a campaign's attributed actor was set, changed or withdrawn, with
-- what it was before and the runner-up it was weighed against. `version`
-- is the engine sequence number of the submission that caused the change,
-- so a replay writes the same rows. The Fusion Cell is alerted to each
-- (alert kind ACTOR_ATTRIBUTION). Portable SQL: ClickHouse 18.16 and
-- current.

CREATE TABLE IF NOT EXISTS attribution_changes
(
    campaign_id String,
    version UInt64,
    changed_at DateTime,
    change String,
    actor_id String,
    actor_name String,
    confidence Float32,
    previous_actor_id String,
    previous_actor_name String,
    previous_confidence Float32,
    runner_up String,
    runner_up_confidence Float32
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (campaign_id, version);
