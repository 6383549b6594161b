-- Each limit event carries its place in its bucket (1, 2, 3, ...), so that how many events a
-- bucket holds since a moment is two lookups in the index (the first event after the moment,
-- and the latest) rather than a walk over every event in the window.
ALTER TABLE limit_events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE limit_events SET seq = (
    SELECT COUNT(*) FROM limit_events AS earlier
    WHERE earlier.org_id = limit_events.org_id
      AND earlier.bucket = limit_events.bucket
      AND earlier.occurred_at <= limit_events.occurred_at
);
DROP INDEX limit_events_bucket;
CREATE INDEX limit_events_bucket ON limit_events (org_id, bucket, occurred_at, seq);
