-- Self-service: who handles a request, files attached to requests and replies, indexes for
-- the request lists and the staff queue, and full-text search over solutions (FTS5, kept in
-- step with the solutions table by triggers).

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
    data BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, request_id) REFERENCES requests (org_id, id) ON DELETE CASCADE
);
CREATE INDEX request_attachments_request ON request_attachments (org_id, request_id, created_at);

CREATE VIRTUAL TABLE solutions_fts USING fts5(
    org_id UNINDEXED,
    solution_id UNINDEXED,
    title,
    body,
    tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO solutions_fts (org_id, solution_id, title, body)
    SELECT org_id, id, title, body FROM solutions;

CREATE TRIGGER solutions_fts_insert AFTER INSERT ON solutions BEGIN
    INSERT INTO solutions_fts (org_id, solution_id, title, body)
        VALUES (new.org_id, new.id, new.title, new.body);
END;
CREATE TRIGGER solutions_fts_update AFTER UPDATE OF title, body ON solutions BEGIN
    DELETE FROM solutions_fts WHERE org_id = old.org_id AND solution_id = old.id;
    INSERT INTO solutions_fts (org_id, solution_id, title, body)
        VALUES (new.org_id, new.id, new.title, new.body);
END;
CREATE TRIGGER solutions_fts_delete AFTER DELETE ON solutions BEGIN
    DELETE FROM solutions_fts WHERE org_id = old.org_id AND solution_id = old.id;
END;
