DROP TABLE outbox;
DROP TABLE common_code_logins;
DROP TABLE limit_events;
DROP TABLE one_time_codes;
DROP TABLE login_attempts;
