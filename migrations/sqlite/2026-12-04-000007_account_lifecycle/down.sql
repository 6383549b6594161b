DROP TABLE contact_changes;
DROP TABLE registrations;
DELETE FROM one_time_codes
    WHERE NOT EXISTS (SELECT 1 FROM contacts
        WHERE contacts.org_id = one_time_codes.org_id AND contacts.id = one_time_codes.contact_id);
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
    FOREIGN KEY (org_id, attempt_id) REFERENCES login_attempts (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE
);
INSERT INTO one_time_codes_rebuilt SELECT org_id, id, attempt_id, contact_id, purpose, code_hash,
    guesses, max_guesses, status, lifetime_secs, created_at, valid_from, expires_at
    FROM one_time_codes;
DROP TABLE one_time_codes;
ALTER TABLE one_time_codes_rebuilt RENAME TO one_time_codes;
CREATE INDEX one_time_codes_attempt ON one_time_codes (org_id, attempt_id);
CREATE INDEX one_time_codes_contact ON one_time_codes (org_id, contact_id, purpose, status);
