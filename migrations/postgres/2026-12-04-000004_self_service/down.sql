DROP INDEX solutions_search;
ALTER TABLE solutions DROP COLUMN search_vector;
DROP TABLE request_attachments;
DROP INDEX requests_queue;
DROP INDEX requests_contact_status;
ALTER TABLE requests DROP COLUMN assignee_id;
