DROP FUNCTION portico_admit(text, text[], timestamp[], bigint[], timestamp[], timestamp);

CREATE OR REPLACE FUNCTION portico_windows(scope text, names text[], sinces timestamp[])
RETURNS TABLE (place bigint, name text, latest timestamp, last_place bigint, first_place bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY EXECUTE
        'SELECT asked.place, asked.name,
            (SELECT e.occurred_at FROM limit_events e WHERE e.org_id = $1 AND e.bucket = asked.name
                ORDER BY e.occurred_at DESC LIMIT 1),
            (SELECT e.seq FROM limit_events e WHERE e.org_id = $1 AND e.bucket = asked.name
                ORDER BY e.seq DESC LIMIT 1),
            (SELECT e.seq FROM limit_events e WHERE e.org_id = $1 AND e.bucket = asked.name
                AND e.occurred_at > asked.since ORDER BY e.occurred_at, e.seq LIMIT 1)
        FROM unnest($2, $3) WITH ORDINALITY AS asked (name, since, place)
        ORDER BY asked.place'
        USING scope, names, sinces;
END
$$;

CREATE FUNCTION portico_count_each(scope text, names text[], sinces timestamp[], at timestamp)
RETURNS TABLE (latest timestamp, last_place bigint, first_place bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('limit:' || scope || ':' || held.name, 0))
    FROM unnest(names) AS held (name);
    RETURN QUERY
        WITH seen AS MATERIALIZED (
            SELECT w.place, w.name, w.latest, w.last_place, w.first_place
            FROM portico_windows(scope, names, sinces) AS w
        ), counted AS (
            INSERT INTO limit_events (org_id, bucket, occurred_at, seq)
            SELECT DISTINCT ON (s.name) scope, s.name, GREATEST(s.latest, at),
                COALESCE(s.last_place, 0) + 1
            FROM seen AS s ORDER BY s.name
        )
        SELECT s.latest, s.last_place, s.first_place FROM seen AS s ORDER BY s.place;
END
$$;
