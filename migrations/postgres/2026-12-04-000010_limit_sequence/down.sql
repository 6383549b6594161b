DROP INDEX limit_events_bucket;
CREATE INDEX limit_events_bucket ON limit_events (org_id, bucket, occurred_at);
ALTER TABLE limit_events DROP COLUMN seq;
