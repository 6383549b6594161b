DROP FUNCTION portico_count_each(text, text[], timestamp[], timestamp);
DROP FUNCTION portico_windows(text, text[], timestamp[]);
