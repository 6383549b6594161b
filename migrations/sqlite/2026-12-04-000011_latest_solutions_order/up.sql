-- A portal's home page lists its latest published solutions, newest first and then by title.
-- The index now holds them in exactly that order, so the page reads the first few entries
-- whatever the planner knows of the table; the old one left a sort of every published
-- solution whenever the planner expected few rows (before a large import was analyzed).
DROP INDEX solutions_latest;
CREATE INDEX solutions_latest ON solutions (org_id, status, updated_at DESC, title);
