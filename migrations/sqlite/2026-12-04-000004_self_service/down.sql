DROP TRIGGER solutions_fts_delete;
DROP TRIGGER solutions_fts_update;
DROP TRIGGER solutions_fts_insert;
DROP TABLE solutions_fts;
DROP TABLE request_attachments;
DROP INDEX requests_queue;
DROP INDEX requests_contact_status;
ALTER TABLE requests DROP COLUMN assignee_id;
