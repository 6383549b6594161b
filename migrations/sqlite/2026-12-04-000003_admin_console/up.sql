-- The admin console's additions to an organization's portal settings: the host names that
-- map straight to its portal (one per line, each unique across organizations, checked by
-- the console) and its logo, kept as base64 text with its media type.

ALTER TABLE organizations ADD COLUMN host_names TEXT NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN logo_type TEXT;
ALTER TABLE organizations ADD COLUMN logo_data TEXT;
