-- One-time codes, the login attempts they belong to, the limits counted in the database, and
-- the outbox of emails and SMS.

-- A login attempt is made for every code request, known identifier or not, so that the answer
-- looks the same. Its contact is NULL when the identifier matched nobody who may get a code.
CREATE TABLE login_attempts (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    contact_id TEXT,
    identifier_hash TEXT NOT NULL,
    purpose TEXT NOT NULL,
    password_proven BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX login_attempts_identifier ON login_attempts (org_id, identifier_hash, created_at);

-- A code is stored only as a keyed hash bound to organization, contact, purpose and attempt.
-- status: pending (its message is not yet accepted by a gateway), active, used, dead (too many
-- wrong guesses), retired (a newer code replaced it).
CREATE TABLE one_time_codes (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    attempt_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    guesses INTEGER NOT NULL,
    max_guesses INTEGER NOT NULL,
    status TEXT NOT NULL,
    lifetime_secs INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    valid_from TIMESTAMP,
    expires_at TIMESTAMP,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, attempt_id) REFERENCES login_attempts (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE
);
CREATE INDEX one_time_codes_attempt ON one_time_codes (org_id, attempt_id);
CREATE INDEX one_time_codes_contact ON one_time_codes (org_id, contact_id, purpose, status);

-- Sliding-window limits: one row per counted event, per bucket (an identifier's hash, a
-- client address, a contact's code failures, the organization's SMS). Old rows are swept.
-- scope is an organization's id, or 'platform' for the common login page.
CREATE TABLE limit_events (
    org_id TEXT NOT NULL,
    bucket TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX limit_events_bucket ON limit_events (org_id, bucket, occurred_at);

-- A code request on the common login page: the login attempts it made, one per organization
-- where the identifier may log in by code, as "org_id:attempt_id,...". Kept on the server so
-- the page never shows which organizations know an identifier.
CREATE TABLE common_code_logins (
    id TEXT PRIMARY KEY NOT NULL,
    attempts TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- The outbox. Bodies are wiped once a message is sent, dropped or given up on. code_refs
-- lists the codes a message carries ("org_id:code_id,..."); a message whose codes can no
-- longer be used is dropped instead of sent late. The worker's queue index is the one index
-- that does not lead with org_id: the queue is shared by every organization.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    code_refs TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_queue ON outbox (state, next_attempt_at);
CREATE INDEX outbox_org ON outbox (org_id, created_at);
