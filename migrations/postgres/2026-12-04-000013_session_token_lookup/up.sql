-- A contact's session is looked up by its token's hash alone, and the lookup then checks the
-- session's organization. The hash of 256 random bits names one session among all of them.
-- With the organization leading the index, PostgreSQL could not tell, while it lacked
-- statistics on a table of a few hundred sessions, the token from the organization as the
-- narrower way in, and read every session of the organization on every page view.
DROP INDEX contact_sessions_token;
CREATE UNIQUE INDEX contact_sessions_token ON contact_sessions (token_hash);
