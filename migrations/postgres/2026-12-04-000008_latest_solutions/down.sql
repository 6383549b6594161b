DROP INDEX solutions_latest;
