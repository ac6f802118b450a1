-- Members talk back (issue 22): corrections of their own reports and
-- feedback on indicators, the facts they withdraw, and the aggregates as
-- they stand after the withdrawals. Portable SQL: ClickHouse 18.16 and
-- current.
--
-- The facts tables stay as they were written (the audit keeps everything);
-- what is withdrawn is named here, and every report and trend view leaves
-- it out.

-- A revocation or a dispute notice names the alerts it revokes.
ALTER TABLE alerts ADD COLUMN revokes Array(String) AFTER coalesced;

-- One row per applied correction. `ordinal` numbers every correction and
-- feedback record in the order the engine applied them, `after_seq` how
-- many submissions it had processed then: at start-up the engine replays
-- submissions and these in exactly that order. `body` is the validated
-- correction (JSON).
CREATE TABLE IF NOT EXISTS corrections
(
    member_id String,
    correction_id String,
    submission_id String,
    ordinal UInt64,
    after_seq UInt64,
    corrected_at DateTime,
    applied_at DateTime,
    retract UInt8,
    removed_types Array(String),
    removed_values Array(String),
    reason String,
    revocations UInt32,
    body String
)
ENGINE = ReplacingMergeTree(ordinal)
ORDER BY (member_id, correction_id);

-- One row per feedback record: who said what about which value (the
-- Fusion Cell's view; members only ever see anonymous counts). `counted`
-- is 0 when the member may not see the value (recorded, changes nothing);
-- `disputed` is 1 on the record that made the value stop linking.
CREATE TABLE IF NOT EXISTS feedback
(
    member_id String,
    feedback_id String,
    ordinal UInt64,
    after_seq UInt64,
    kind String,
    obs_type String,
    value String,
    count UInt32,
    seen_at DateTime,
    confidence UInt8,
    comment String,
    counted UInt8,
    disputed UInt8,
    submitted_at DateTime,
    applied_at DateTime,
    body String
)
ENGINE = ReplacingMergeTree(ordinal)
ORDER BY (obs_type, value, member_id, feedback_id);

CREATE VIEW IF NOT EXISTS withdrawn_submissions AS
SELECT DISTINCT member_id, submission_id FROM corrections WHERE retract = 1;

CREATE VIEW IF NOT EXISTS withdrawn_observations AS
SELECT DISTINCT member_id, submission_id, obs_type, value
FROM corrections
ARRAY JOIN removed_types AS obs_type, removed_values AS value;

-- The aggregates of 004_trends.sql as they stand after withdrawals. An
-- aggregate cannot take a row back, so each view takes the stored
-- aggregate for every group no withdrawal touched and recomputes the
-- touched groups (few: withdrawals are rare) from the facts without what
-- was withdrawn; both sides are aggregate states, merged by the reader
-- exactly as before (uniqExactMerge).
CREATE VIEW IF NOT EXISTS submissions_daily_current AS
SELECT day, sector, kind, tlp, scope, submissions, members
FROM submissions_daily
WHERE (day, sector, kind, tlp, scope) NOT IN
    (SELECT toDate(submitted_at), sector, kind, tlp, scope FROM submissions
     WHERE (member_id, submission_id) IN (SELECT member_id, submission_id FROM withdrawn_submissions))
UNION ALL
SELECT
    toDate(submitted_at) AS day,
    sector,
    kind,
    tlp,
    scope,
    uniqExactState(member_id, submission_id) AS submissions,
    uniqExactState(member_id) AS members
FROM submissions
WHERE (toDate(submitted_at), sector, kind, tlp, scope) IN
    (SELECT toDate(submitted_at), sector, kind, tlp, scope FROM submissions
     WHERE (member_id, submission_id) IN (SELECT member_id, submission_id FROM withdrawn_submissions))
  AND (member_id, submission_id) NOT IN (SELECT member_id, submission_id FROM withdrawn_submissions)
GROUP BY day, sector, kind, tlp, scope;

CREATE VIEW IF NOT EXISTS trend_daily_current AS
SELECT day, sector, kind, obs_type, tlp, scope, submissions, members, observables, sightings
FROM trend_daily
WHERE (day, sector, kind, obs_type, tlp, scope) NOT IN
    (SELECT toDate(observed_at), sector, kind, obs_type, tlp, scope FROM observations
     WHERE (member_id, submission_id) IN (SELECT member_id, submission_id FROM withdrawn_submissions)
        OR (member_id, submission_id, obs_type, value) IN (SELECT member_id, submission_id, obs_type, value FROM withdrawn_observations))
UNION ALL
SELECT
    toDate(observed_at) AS day,
    sector,
    kind,
    obs_type,
    tlp,
    scope,
    uniqExactState(member_id, submission_id) AS submissions,
    uniqExactState(member_id) AS members,
    uniqExactState(obs_type, value) AS observables,
    uniqExactState(member_id, submission_id, obs_type, value) AS sightings
FROM observations
WHERE (toDate(observed_at), sector, kind, obs_type, tlp, scope) IN
    (SELECT toDate(observed_at), sector, kind, obs_type, tlp, scope FROM observations
     WHERE (member_id, submission_id) IN (SELECT member_id, submission_id FROM withdrawn_submissions)
        OR (member_id, submission_id, obs_type, value) IN (SELECT member_id, submission_id, obs_type, value FROM withdrawn_observations))
  AND (member_id, submission_id) NOT IN (SELECT member_id, submission_id FROM withdrawn_submissions)
  AND (member_id, submission_id, obs_type, value) NOT IN (SELECT member_id, submission_id, obs_type, value FROM withdrawn_observations)
GROUP BY day, sector, kind, obs_type, tlp, scope;

CREATE VIEW IF NOT EXISTS labels_daily_current AS
SELECT day, facet, label, sector, tlp, scope, submissions, members
FROM labels_daily
WHERE (day, sector, tlp, scope) NOT IN
    (SELECT toDate(submitted_at), sector, tlp, scope FROM submissions
     WHERE (member_id, submission_id) IN (SELECT member_id, submission_id FROM withdrawn_submissions))
UNION ALL
SELECT
    toDate(submitted_at) AS day,
    tupleElement(l, 1) AS facet,
    tupleElement(l, 2) AS label,
    sector,
    tlp,
    scope,
    uniqExactState(member_id, submission_id) AS submissions,
    uniqExactState(member_id) AS members
FROM submissions
ARRAY JOIN arrayConcat(
    arrayMap(x -> ('actor', x), actor_claims),
    arrayMap(x -> ('malware', x), malware),
    arrayMap(x -> ('technique', x), ttps)) AS l
WHERE (toDate(submitted_at), sector, tlp, scope) IN
    (SELECT toDate(submitted_at), sector, tlp, scope FROM submissions
     WHERE (member_id, submission_id) IN (SELECT member_id, submission_id FROM withdrawn_submissions))
  AND (member_id, submission_id) NOT IN (SELECT member_id, submission_id FROM withdrawn_submissions)
GROUP BY day, facet, label, sector, tlp, scope;

-- Campaign activity (006_membership.sql) without withdrawn reports (each
-- sits alone in a campaign of its own, which no panel should count).
CREATE VIEW IF NOT EXISTS campaign_activity_current AS
SELECT * FROM campaign_activity
WHERE (member_id, submission_id) NOT IN (SELECT member_id, submission_id FROM withdrawn_submissions);
