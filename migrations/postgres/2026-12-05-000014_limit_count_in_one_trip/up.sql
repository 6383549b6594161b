-- Counts an event in each of several limit buckets of one scope, holding the buckets, in one
-- trip to the server: the buckets are locked, in the order given, by an advisory lock held to
-- the end of the transaction, and only then read, by a statement whose snapshot is taken
-- after the locks (each statement of a volatile function takes its own), so that it sees every
-- event of the transactions that held the buckets before. Each bucket gets one event, at `at`
-- or at its latest event's time when that is later, in the place after its highest. The rows
-- answered are each asked bucket's latest time, highest place and first place after its
-- `since`, read before the events, in the order asked; a caller that they refuse gives its
-- transaction up, and the events with it.
--
-- The reading statement is planned each time it runs (EXECUTE), for the events there are,
-- never on a plan kept from a time when the table was nearly empty.
CREATE FUNCTION portico_count_each(scope text, names text[], sinces timestamp[], at timestamp)
RETURNS TABLE (latest timestamp, last_place bigint, first_place bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('limit:' || scope || ':' || name, 0))
    FROM unnest(names) AS name;
    RETURN QUERY EXECUTE
        'WITH asked AS (
            SELECT name, since, place
            FROM unnest($2, $3) WITH ORDINALITY AS asked (name, since, place)
        ), seen AS (
            SELECT asked.place, asked.name,
                (SELECT e.occurred_at FROM limit_events e WHERE e.org_id = $1 AND e.bucket = asked.name
                    ORDER BY e.occurred_at DESC LIMIT 1) AS latest,
                (SELECT e.seq FROM limit_events e WHERE e.org_id = $1 AND e.bucket = asked.name
                    ORDER BY e.seq DESC LIMIT 1) AS last_place,
                (SELECT e.seq FROM limit_events e WHERE e.org_id = $1 AND e.bucket = asked.name
                    AND e.occurred_at > asked.since ORDER BY e.occurred_at, e.seq LIMIT 1) AS first_place
            FROM asked
        ), counted AS (
            INSERT INTO limit_events (org_id, bucket, occurred_at, seq)
            SELECT DISTINCT ON (name) $1, name, GREATEST(latest, $4), COALESCE(last_place, 0) + 1
            FROM seen ORDER BY name
        )
        SELECT latest, last_place, first_place FROM seen ORDER BY place'
        USING scope, names, sinces, at;
END
$$;
