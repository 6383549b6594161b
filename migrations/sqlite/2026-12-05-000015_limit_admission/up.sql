-- PostgreSQL admits limited requests with a function of its own; SQLite needs nothing here.
SELECT 1;
