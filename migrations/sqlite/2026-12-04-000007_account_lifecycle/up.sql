-- Account lifecycle: forgotten passwords, invitations, self-registration and proven changes of
-- a contact's email or mobile number.
--
-- A one-time code may now prove an address before any contact has it (a registration), so a
-- code's contact_id names either a contact or the registration whose id the contact will
-- take, and no longer references contacts. SQLite cannot drop a foreign key, so the table is
-- rebuilt with the same columns and indexes.
CREATE TABLE one_time_codes_rebuilt (
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
    FOREIGN KEY (org_id, attempt_id) REFERENCES login_attempts (org_id, id) ON DELETE CASCADE
);
INSERT INTO one_time_codes_rebuilt SELECT org_id, id, attempt_id, contact_id, purpose, code_hash,
    guesses, max_guesses, status, lifetime_secs, created_at, valid_from, expires_at
    FROM one_time_codes;
DROP TABLE one_time_codes;
ALTER TABLE one_time_codes_rebuilt RENAME TO one_time_codes;
CREATE INDEX one_time_codes_attempt ON one_time_codes (org_id, attempt_id);
CREATE INDEX one_time_codes_contact ON one_time_codes (org_id, contact_id, purpose, status);

-- A self-registration, kept apart from the contacts until it counts: its email (and mobile
-- number, when the organization sends codes by SMS) proven with a code and, where the
-- organization asks for it, approved by an admin. Its id becomes the contact's id.
-- state: unproven, awaiting_approval, approved, refused.
CREATE TABLE registrations (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    email TEXT NOT NULL,
    mobile TEXT,
    name TEXT NOT NULL,
    password_hash TEXT,
    state TEXT NOT NULL,
    email_proven BOOLEAN NOT NULL,
    mobile_proven BOOLEAN NOT NULL,
    client_ip TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    decided_by TEXT,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX registrations_state ON registrations (org_id, state, created_at);
CREATE INDEX registrations_email ON registrations (org_id, email);

-- A contact's pending change of email or mobile number: the new address waits here, bound to
-- the code attempt that must prove it. field: email or mobile.
CREATE TABLE contact_changes (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    attempt_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    field TEXT NOT NULL,
    new_value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, attempt_id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE
);
