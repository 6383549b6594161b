DROP INDEX limit_events_place;
