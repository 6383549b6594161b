DROP INDEX requests_newest;
DROP INDEX requests_queue;
DROP INDEX requests_contact_status;
DROP INDEX requests_contact;
CREATE INDEX requests_contact ON requests (org_id, contact_id, created_at);
CREATE INDEX requests_contact_status ON requests (org_id, contact_id, status, created_at);
CREATE INDEX requests_queue ON requests (org_id, status, created_at);

DROP TRIGGER requests_search_delete;
DROP TRIGGER requests_search_update;
DROP TRIGGER requests_search_insert;
DROP TABLE requests_search;
DROP TABLE requests_search_keys;
