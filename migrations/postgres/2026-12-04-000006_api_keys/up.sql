-- API keys: credentials of API clients that administer one organization (org_id set) or the
-- whole platform (org_id NULL). Only the SHA-256 hash of a key's secret is stored; the key is
-- shown once, when it is made. A revoked key stays listed, with when it was revoked.

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);

CREATE INDEX api_keys_org ON api_keys (org_id, created_at);
