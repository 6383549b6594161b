DROP TABLE sms_gateways;
DROP TABLE message_templates;
