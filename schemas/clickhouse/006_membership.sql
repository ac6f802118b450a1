-- Current campaign membership (issue 20). A submission's campaign changes
-- after it was stored: a later report merges its campaign into an older
-- one, or the over-correlation guard splits a campaign that was glued by
-- common infrastructure. `submissions.campaign_id` keeps the campaign a
-- submission was given when it was processed; this table gets a row for
-- each submission when it is processed and one for every later change,
-- versioned by the engine sequence number of the submission that caused
-- it, so the row with the highest version is the submission's campaign
-- now. Everything that counts campaigns reads `submission_campaigns`.
-- Portable SQL: ClickHouse 18.16 and current.

CREATE TABLE IF NOT EXISTS campaign_membership
(
    member_id String,
    submission_id String,
    campaign_id String,
    version UInt64,
    changed_at DateTime
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (member_id, submission_id);

-- Each submission's campaign now (one row per submission).
CREATE VIEW IF NOT EXISTS submission_campaigns AS
SELECT
    member_id,
    submission_id,
    argMax(campaign_id, version) AS current_campaign
FROM campaign_membership
GROUP BY member_id, submission_id;

-- Campaign activity per submission with its campaign now: what the
-- Threat-picture dashboard counts (it replaces the materialised
-- `campaign_daily`, which kept the campaign of the moment of processing).
CREATE VIEW IF NOT EXISTS campaign_activity AS
SELECT
    toDate(submitted_at) AS day,
    current_campaign,
    member_id,
    submission_id,
    sector,
    tlp,
    scope
FROM submissions
ANY INNER JOIN submission_campaigns USING (member_id, submission_id);

DROP TABLE IF EXISTS campaign_daily;

-- Every judgement of the over-correlation guard, of every kind of evidence
-- (observables, /24s, registrable domains, malware families, techniques,
-- technique sets): `obs_type` names the kind; why (`hot`: carried by more
-- than hot_observable_limit submissions; `shared`: it came with more than
-- common_after_campaigns groups of otherwise unrelated indicators) and the
-- counts when it was judged.
ALTER TABLE common_infrastructure ADD COLUMN reason String DEFAULT '';
ALTER TABLE common_infrastructure ADD COLUMN submissions UInt32 DEFAULT 0;
ALTER TABLE common_infrastructure ADD COLUMN groups UInt32 DEFAULT 0;
