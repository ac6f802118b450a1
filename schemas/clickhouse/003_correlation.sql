-- Correlation engine facts (issue 3).
-- observations: the warn-list a value is on (a likely false positive; empty
-- when none) and the indicator's score as the Fusion Cell sees it right
-- after this sighting (distinct reporters, confidence, decay by age).
ALTER TABLE observations ADD COLUMN warnlist String DEFAULT '';
ALTER TABLE observations ADD COLUMN score Float32 DEFAULT 0;
-- campaigns: the actor a campaign is attributed to (empty when none), the
-- attribution's confidence and its top contributing evidence.
ALTER TABLE campaigns ADD COLUMN actor_id String DEFAULT '';
ALTER TABLE campaigns ADD COLUMN actor_name String DEFAULT '';
ALTER TABLE campaigns ADD COLUMN attribution_confidence Float32 DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN attribution_evidence Array(String);

-- Values the over-correlation guard found to be common infrastructure
-- (shared hosting, CDNs, sinkholes): they link nothing from then on.
CREATE TABLE IF NOT EXISTS common_infrastructure
(
    detected_at DateTime,
    seq UInt64,
    obs_type String,
    value String
)
ENGINE = ReplacingMergeTree(detected_at)
ORDER BY (obs_type, value);
