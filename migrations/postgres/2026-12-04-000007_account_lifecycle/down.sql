DROP TABLE contact_changes;
DROP TABLE registrations;
DELETE FROM one_time_codes
    WHERE NOT EXISTS (SELECT 1 FROM contacts
        WHERE contacts.org_id = one_time_codes.org_id AND contacts.id = one_time_codes.contact_id);
ALTER TABLE one_time_codes ADD CONSTRAINT one_time_codes_org_id_contact_id_fkey
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE;
