-- Organizations, their login policies, contacts, admins, sessions, audit events, and the
-- portal content (service categories, solutions, requests). Every tenant-owned table leads
-- its keys with org_id.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'live', 'retired')),
    accent_color TEXT NOT NULL,
    welcome_text TEXT NOT NULL,
    footer_text TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE login_policies (
    org_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    login_mode TEXT NOT NULL,
    otp_channel TEXT NOT NULL,
    code_length INTEGER NOT NULL,
    code_lifetime_secs INTEGER NOT NULL,
    code_max_guesses INTEGER NOT NULL,
    resend_cooldown_secs INTEGER NOT NULL,
    codes_per_hour INTEGER NOT NULL,
    codes_per_day INTEGER NOT NULL,
    code_failures_per_hour INTEGER NOT NULL,
    password_min_length INTEGER NOT NULL,
    lockout_threshold INTEGER NOT NULL,
    lockout_window_secs INTEGER NOT NULL,
    lockout_secs INTEGER NOT NULL,
    session_idle_secs INTEGER NOT NULL,
    session_absolute_secs INTEGER NOT NULL,
    self_registration TEXT NOT NULL,
    registration_domains TEXT NOT NULL,
    anonymous_solutions BOOLEAN NOT NULL,
    contacts_may_close BOOLEAN NOT NULL,
    contacts_may_reopen BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE contacts (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    email TEXT,
    mobile TEXT,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    password_hash TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_failures INTEGER NOT NULL DEFAULT 0,
    password_window_started_at TIMESTAMP,
    consecutive_password_failures INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX contacts_org_email ON contacts (org_id, email);
CREATE UNIQUE INDEX contacts_org_mobile ON contacts (org_id, mobile);

CREATE TABLE admins (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_platform BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_failures INTEGER NOT NULL DEFAULT 0,
    password_window_started_at TIMESTAMP,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE org_admins (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, admin_id)
);

CREATE TABLE contact_sessions (
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    client_ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX contact_sessions_token ON contact_sessions (org_id, token_hash);
CREATE INDEX contact_sessions_contact ON contact_sessions (org_id, contact_id);

CREATE TABLE admin_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    proved_at TIMESTAMP NOT NULL,
    client_ip TEXT NOT NULL,
    user_agent TEXT NOT NULL
);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    client_ip TEXT NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, occurred_at);

CREATE TABLE service_categories (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    position INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX service_categories_name ON service_categories (org_id, name);

CREATE TABLE solutions (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    topic TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX solutions_title ON solutions (org_id, title);

CREATE TABLE requests (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    number BIGINT NOT NULL,
    contact_id TEXT NOT NULL,
    category_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, category_id) REFERENCES service_categories (org_id, id)
);
CREATE UNIQUE INDEX requests_number ON requests (org_id, number);
CREATE INDEX requests_contact ON requests (org_id, contact_id, created_at);

CREATE TABLE request_replies (
    org_id TEXT NOT NULL,
    id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    author_kind TEXT NOT NULL,
    author_id TEXT,
    body TEXT NOT NULL,
    internal BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, request_id) REFERENCES requests (org_id, id) ON DELETE CASCADE
);
CREATE INDEX request_replies_request ON request_replies (org_id, request_id, created_at);
