-- An alert may stand for several peer sightings of one campaign: the update
-- that coalesces what followed an alert within `alerts.coalesce_window_s`
-- (issue 17). 1 for an alert sent at once. Older rows read as 1.
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: the migration runner
-- skips an ADD COLUMN whose column already exists.
ALTER TABLE alerts ADD COLUMN sightings UInt32 DEFAULT 1 AFTER publish_to_alert_ms;
-- 1 for a coalesced update, even one that holds a single sighting: its
-- publish_to_alert_ms runs from its first held sighting and includes the
-- window; latency of alerts sent at once is `WHERE coalesced = 0`.
ALTER TABLE alerts ADD COLUMN coalesced UInt8 DEFAULT 0 AFTER sightings;
