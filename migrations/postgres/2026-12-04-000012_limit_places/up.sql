-- A bucket's latest place is its highest, whatever the times: requests that took their time
-- before the moment they wrote could be recorded out of time order, and reading the latest
-- place by time then handed one place to several events, so that counts fell short.
CREATE INDEX limit_events_place ON limit_events (org_id, bucket, seq);
