DROP INDEX solutions_latest;
CREATE INDEX solutions_latest ON solutions (org_id, status, updated_at);
