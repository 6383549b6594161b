DROP INDEX contact_sessions_token;
CREATE UNIQUE INDEX contact_sessions_token ON contact_sessions (org_id, token_hash);
