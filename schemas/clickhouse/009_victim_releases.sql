-- Victim notifications the Fusion Cell released (issue 23): a member's
-- own asset appeared in a report that member may not see; the Fusion Cell
-- decided to tell it that much (its asset, the kind of report, a contact)
-- through the query API. One row per release — who was told, of which
-- report, why — so every release can be audited. Portable SQL: ClickHouse
-- 18.16 and current.
CREATE TABLE IF NOT EXISTS victim_releases
(
    released_at DateTime,
    member_id String,
    asset String,
    submission_member String,
    submission_id String,
    submission_kind String,
    alert_id String,
    reason String
)
ENGINE = ReplacingMergeTree(released_at)
ORDER BY (member_id, submission_member, submission_id);
