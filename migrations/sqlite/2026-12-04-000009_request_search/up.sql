-- Request search that an index serves, and indexes in the request lists' own order.
--
-- `requests_search` is an FTS5 table with the trigram tokenizer: a quoted word of 3 or more
-- characters matches wherever it appears inside a subject or description, ignoring case, the
-- way `LIKE '%word%'` does, but from the index. Shorter words still use `LIKE` (trigrams cannot
-- serve them). `requests_search_keys` says which request each search row holds: its
-- `search_row` is the search table's rowid and stays put, where the rowids of `requests`
-- itself may change (VACUUM renumbers them). A search reads only the index and this table,
-- never the copied text, and triggers find a request's search row by its key instead of
-- scanning. Triggers keep both in step with `requests`.
--
-- The lists order by (created_at, number), newest first: each list index now ends with both, so
-- a page is read in index order instead of sorting every matching request.

CREATE TABLE requests_search_keys (
    search_row INTEGER PRIMARY KEY,
    org_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    UNIQUE (org_id, request_id)
);
CREATE VIRTUAL TABLE requests_search USING fts5(subject, description, tokenize = 'trigram');

INSERT INTO requests_search_keys (org_id, request_id) SELECT org_id, id FROM requests;
INSERT INTO requests_search (rowid, subject, description)
    SELECT k.search_row, r.subject, r.description
    FROM requests_search_keys k JOIN requests r ON r.org_id = k.org_id AND r.id = k.request_id;

CREATE TRIGGER requests_search_insert AFTER INSERT ON requests BEGIN
    INSERT INTO requests_search_keys (org_id, request_id) VALUES (new.org_id, new.id);
    INSERT INTO requests_search (rowid, subject, description)
        VALUES (last_insert_rowid(), new.subject, new.description);
END;
CREATE TRIGGER requests_search_update AFTER UPDATE OF subject, description ON requests BEGIN
    UPDATE requests_search SET subject = new.subject, description = new.description
        WHERE rowid = (
            SELECT search_row FROM requests_search_keys
            WHERE org_id = old.org_id AND request_id = old.id
        );
END;
CREATE TRIGGER requests_search_delete AFTER DELETE ON requests BEGIN
    DELETE FROM requests_search
        WHERE rowid = (
            SELECT search_row FROM requests_search_keys
            WHERE org_id = old.org_id AND request_id = old.id
        );
    DELETE FROM requests_search_keys WHERE org_id = old.org_id AND request_id = old.id;
END;

DROP INDEX requests_contact;
DROP INDEX requests_contact_status;
DROP INDEX requests_queue;
CREATE INDEX requests_contact ON requests (org_id, contact_id, created_at, number);
CREATE INDEX requests_contact_status ON requests (org_id, contact_id, status, created_at, number);
CREATE INDEX requests_queue ON requests (org_id, status, created_at, number);
CREATE INDEX requests_newest ON requests (org_id, created_at, number);
