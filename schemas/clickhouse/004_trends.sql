-- Aggregates behind the quarterly threat-trend report and the Threat picture
-- dashboard (issue 6). Materialised views fill them at every insert into the
-- fact tables; POPULATE fills them from the facts already stored when a view
-- is first created (the service migrates before it consumes, so nothing is
-- inserted meanwhile).
--
-- Idempotent under retries: a batch inserted twice (a retry, or re-derived
-- after a crash) reaches the views twice, so every measure is a distinct
-- count (uniqExact) or a min/max, never a plain count or sum. Query them
-- with the -Merge combinators: uniqExactMerge(submissions), minMerge(...).
--
-- New versus recurring indicators are not materialised: a view grouped by
-- observable value made every observations insert 4x slower (measured on
-- 929 k rows: 0.85 s -> 3.9 s), for a query run once a quarter; the report
-- reads `observations` (sorted by obs_type, value) directly instead.
--
-- Every view keeps `tlp` and `scope` (the distribution scope) as dimensions,
-- so a report or panel for an audience reads only what that audience may
-- see (services/reporter). Portable SQL: ClickHouse 18.16 and current.

-- Submissions per day by the submitter's sector, kind, TLP and scope.
CREATE MATERIALIZED VIEW IF NOT EXISTS submissions_daily
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, sector, kind, tlp, scope)
POPULATE
AS SELECT
    toDate(submitted_at) AS day,
    sector,
    kind,
    tlp,
    scope,
    uniqExactState(member_id, submission_id) AS submissions,
    uniqExactState(member_id) AS members
FROM submissions
GROUP BY day, sector, kind, tlp, scope;

-- Observables per day by sector × kind × observable type × TLP (× scope):
-- submissions carrying them, distinct members, distinct observables and
-- sightings (one observable in one submission).
CREATE MATERIALIZED VIEW IF NOT EXISTS trend_daily
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, sector, kind, obs_type, tlp, scope)
POPULATE
AS SELECT
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
GROUP BY day, sector, kind, obs_type, tlp, scope;

-- Campaign activity is not materialised here: a submission's campaign
-- changes after it is stored (merges, the guard's splits), which an
-- aggregate cannot take back. See 006_membership.sql (`campaign_activity`).

-- Actor claims, malware families and ATT&CK techniques named in submissions,
-- per day: facet is 'actor', 'malware' or 'technique'.
CREATE MATERIALIZED VIEW IF NOT EXISTS labels_daily
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, facet, label, sector, tlp, scope)
POPULATE
AS SELECT
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
GROUP BY day, facet, label, sector, tlp, scope;
