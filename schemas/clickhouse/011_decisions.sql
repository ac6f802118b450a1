-- The Fusion Cell's decisions (issue 22): one row per decision applied
-- (or refused), who made it, when, why, and what it changed. `ordinal`
-- and `after_seq` place it among submissions, corrections and feedback for
-- the replay (as in 010); `body` is the validated decision (JSON). An undo
-- is a decision of its own whose `a` names the decision it undoes.
-- Portable SQL: ClickHouse 18.16 and current.
CREATE TABLE IF NOT EXISTS decisions
(
    decision_id String,
    analyst String,
    made_at DateTime,
    applied_at DateTime,
    action String,
    a String,
    b String,
    obs_type String,
    value String,
    actor String,
    reason String,
    ordinal UInt64,
    after_seq UInt64,
    campaigns_changed UInt32,
    moved UInt32,
    attribution_changes UInt32,
    told UInt32,
    body String
)
ENGINE = ReplacingMergeTree(ordinal)
ORDER BY decision_id;

-- Withdrawn reports: by their submitters (010) and by the Fusion Cell at
-- a member's request (a withdrawal is never undone).
DROP TABLE IF EXISTS withdrawn_submissions;
CREATE VIEW IF NOT EXISTS withdrawn_submissions AS
SELECT member_id, submission_id FROM corrections WHERE retract = 1
UNION ALL
SELECT splitByChar('/', a)[1] AS member_id, splitByChar('/', a)[2] AS submission_id
FROM decisions WHERE action = 'withdraw';

-- Values the Fusion Cell declared benign and did not take back: the
-- member feeds leave them out.
CREATE VIEW IF NOT EXISTS benign_values AS
SELECT obs_type, value FROM decisions
WHERE action = 'declare_benign'
  AND decision_id NOT IN (SELECT a FROM decisions WHERE action = 'undo');
