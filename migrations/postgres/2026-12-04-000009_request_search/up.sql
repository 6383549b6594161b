-- Request search that an index serves, and indexes in the request lists' own order.
--
-- Each search word becomes `lower(subject) LIKE '%word%' OR lower(description) LIKE ...`;
-- pg_trgm's GIN indexes on those two expressions serve it (words of 3 or more characters
-- narrow the scan; the rows found are always rechecked, so a match is exactly a `LIKE` match).
-- pg_trgm is a trusted extension since PostgreSQL 13: the database's owner may create it.
-- Like the solutions' search index, these cannot lead with org_id: a word is matched across
-- organizations, and the asker's organization is kept when the rows are read.
--
-- The lists order by (created_at, number), newest first: each list index now ends with both, so
-- a page is read in index order instead of sorting every matching request.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX requests_subject_words ON requests USING GIN (lower(subject) gin_trgm_ops);
CREATE INDEX requests_description_words ON requests USING GIN (lower(description) gin_trgm_ops);

DROP INDEX requests_contact;
DROP INDEX requests_contact_status;
DROP INDEX requests_queue;
CREATE INDEX requests_contact ON requests (org_id, contact_id, created_at, number);
CREATE INDEX requests_contact_status ON requests (org_id, contact_id, status, created_at, number);
CREATE INDEX requests_queue ON requests (org_id, status, created_at, number);
CREATE INDEX requests_newest ON requests (org_id, created_at, number);

-- The planner knows how selective a word is only from statistics on the indexed expressions.
ANALYZE requests;
