DROP FUNCTION portico_count_each(text, text[], timestamp[], timestamp);
