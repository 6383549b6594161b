-- PostgreSQL reads and counts limit events with functions of its own; SQLite, which
-- makes no trips and runs one writing transaction at a time, needs nothing here.
SELECT 1;
