-- Console messages: an organization's own wording of a message to its contacts, which
-- replaces the built-in template of that message while it exists; and an organization's own
-- HTTP SMS gateway, used instead of the platform's (its header values are a JSON object of
-- name to value; the URL and header values are secrets the console never shows in full).

CREATE TABLE message_templates (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    message TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    sms TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, message)
);

CREATE TABLE sms_gateways (
    org_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    headers TEXT NOT NULL,
    body_template TEXT NOT NULL,
    content_type TEXT NOT NULL,
    accept_statuses TEXT NOT NULL,
    timeout_secs INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
