-- Alerts record both campaign ids: `campaign_id` is the Fusion Cell's id of
-- the whole campaign, `view_campaign_id` the id the recipient was given (its
-- audience-restricted view; empty when the alert carried none).
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: the migration runner
-- skips an ADD COLUMN whose column already exists.
ALTER TABLE alerts ADD COLUMN view_campaign_id String DEFAULT '' AFTER campaign_id;
