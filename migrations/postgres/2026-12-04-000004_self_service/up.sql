-- Self-service: who handles a request, files attached to requests and replies, indexes for
-- the request lists and the staff queue, and full-text search over solutions (a generated
-- tsvector with a GIN index; the 'simple' configuration, so that words match the way they do
-- in SQLite's FTS5: lowercased, not stemmed).

ALTER TABLE requests ADD COLUMN assignee_id TEXT;
CREATE INDEX requests_contact_status ON requests (org_id, contact_id, status, created_at);
CREATE INDEX requests_queue ON requests (org_id, status, created_at);

CREATE TABLE request_attachments (
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    reply_id TEXT,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    data BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, request_id) REFERENCES requests (org_id, id) ON DELETE CASCADE
);
CREATE INDEX request_attachments_request ON request_attachments (org_id, request_id, created_at);

ALTER TABLE solutions ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B')
) STORED;
CREATE INDEX solutions_search ON solutions USING GIN (search_vector);
