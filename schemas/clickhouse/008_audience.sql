-- A submission's full audience (issue 23): the named members and sharing
-- groups of its distribution, next to `scope` and the submitter's
-- `sector`, so that what one member may see can be selected in SQL with
-- the same rule as the engine's (`Registry::may_see`): the member feeds
-- of the intake gateway. Rows written before this have empty lists, which
-- reads as "nobody beyond the submitter and the Fusion Cell" for the two
-- scopes that use them — never wider. Portable SQL: ClickHouse 18.16 and
-- current.
ALTER TABLE submissions ADD COLUMN audience_members Array(String);
ALTER TABLE submissions ADD COLUMN audience_groups Array(String);
