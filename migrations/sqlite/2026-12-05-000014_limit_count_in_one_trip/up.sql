-- PostgreSQL counts limit events in one trip with a function of its own; SQLite, which
-- makes no trips and runs one writing transaction at a time, needs nothing here.
SELECT 1;
