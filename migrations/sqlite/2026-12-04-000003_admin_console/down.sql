ALTER TABLE organizations DROP COLUMN logo_data;
ALTER TABLE organizations DROP COLUMN logo_type;
ALTER TABLE organizations DROP COLUMN host_names;
