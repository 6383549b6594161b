-- A portal's home page lists its latest published solutions.
CREATE INDEX solutions_latest ON solutions (org_id, status, updated_at);
