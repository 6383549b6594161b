-- The windows of several limit buckets of one scope, as before, now read by a statement that
-- the function keeps planned for the rest of the connection's life: planning it anew on each
-- call cost more than reading it. A plan kept from a moment when the table held a few events
-- could walk the whole table, or sort a whole bucket, for each lookup, as the table grows
-- until the next ANALYZE; with walks and sorts ruled out while the function plans, each
-- lookup is an ordered read of the index on (org_id, bucket, occurred_at, seq) or on
-- (org_id, bucket, seq) that stops at its first entry, however many events there are, and
-- that one plan serves every call.
CREATE OR REPLACE FUNCTION portico_windows(scope text, names text[], sinces timestamp[])
RETURNS TABLE (place bigint, name text, latest timestamp, last_place bigint, first_place bigint)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
SET enable_sort = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
        SELECT asked.place, asked.name,
            (SELECT e.occurred_at FROM limit_events e WHERE e.org_id = scope AND e.bucket = asked.name
                ORDER BY e.occurred_at DESC LIMIT 1),
            (SELECT e.seq FROM limit_events e WHERE e.org_id = scope AND e.bucket = asked.name
                ORDER BY e.seq DESC LIMIT 1),
            (SELECT e.seq FROM limit_events e WHERE e.org_id = scope AND e.bucket = asked.name
                AND e.occurred_at > asked.since ORDER BY e.occurred_at, e.seq LIMIT 1)
        FROM unnest(names, sinces) WITH ORDINALITY AS asked (name, since, place)
        ORDER BY asked.place;
END
$$;

-- Admits a request that several limits of one scope look at, in one statement that runs as
-- a transaction of its own, so that the buckets are held only while the database itself
-- works: the buckets of the limits (those with a cap) are locked in the order given, by
-- advisory locks held to the end of the statement's transaction; then every bucket asked is
-- read (`portico_windows`) by a statement whose snapshot follows the locks. A limit refuses
-- when its window already holds `caps` events, or when its bucket's latest event came after
-- its `calm_since`; Portico's `Limit::refuses` judges by the same rule. When no limit
-- refuses, each limited bucket gets one event, at `at` or at its latest event's time when
-- that is later, in the place after its highest. Buckets without a cap are only read. The
-- rows answered are the windows from before the events, in the order asked, each with the
-- verdict. The transaction commits without waiting for its record to reach the disk, since the
-- buckets stay held until the commit ends: a crash may forget the last fraction of a second
-- of limit events, which a flush on every code request is not worth. Call it as a statement
-- of its own, never inside a transaction whose other writes must wait for the disk.
CREATE FUNCTION portico_admit(scope text, names text[], sinces timestamp[], caps bigint[],
    calm_since timestamp[], at timestamp)
RETURNS TABLE (latest timestamp, last_place bigint, first_place bigint, admitted boolean)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(hashtextextended('limit:' || scope || ':' || held.name, 0))
    FROM unnest(names, caps) AS held (name, cap)
    WHERE held.cap IS NOT NULL;
    RETURN QUERY
        WITH seen AS MATERIALIZED (
            SELECT w.place, w.name, w.latest, w.last_place, w.first_place, l.cap, l.calm,
                CASE WHEN w.first_place IS NULL THEN 0
                    ELSE GREATEST(COALESCE(w.last_place - w.first_place + 1, 1), 1) END AS count
            FROM portico_windows(scope, names, sinces) AS w
            JOIN unnest(caps, calm_since) WITH ORDINALITY AS l (cap, calm, place)
                ON l.place = w.place
        ), verdict AS (
            SELECT COALESCE(bool_and(s.count < s.cap AND NOT COALESCE(s.latest > s.calm, false))
                FILTER (WHERE s.cap IS NOT NULL), true) AS admitted
            FROM seen AS s
        ), counted AS (
            INSERT INTO limit_events (org_id, bucket, occurred_at, seq)
            SELECT DISTINCT ON (s.name) scope, s.name, GREATEST(s.latest, at),
                COALESCE(s.last_place, 0) + 1
            FROM seen AS s, verdict AS v
            WHERE v.admitted AND s.cap IS NOT NULL
            ORDER BY s.name
        )
        SELECT s.latest, s.last_place, s.first_place, v.admitted
        FROM seen AS s, verdict AS v
        ORDER BY s.place;
END
$$;

DROP FUNCTION portico_count_each(text, text[], timestamp[], timestamp);
