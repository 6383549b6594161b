//! The tables as diesel sees them; kept by hand in step with both migration folders.

diesel::table! {
    organizations (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        status -> Text,
        accent_color -> Text,
        welcome_text -> Text,
        footer_text -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        host_names -> Text,
        logo_type -> Nullable<Text>,
        logo_data -> Nullable<Text>,
    }
}

diesel::table! {
    login_policies (org_id) {
        org_id -> Text,
        login_mode -> Text,
        otp_channel -> Text,
        code_length -> Integer,
        code_lifetime_secs -> Integer,
        code_max_guesses -> Integer,
        resend_cooldown_secs -> Integer,
        codes_per_hour -> Integer,
        codes_per_day -> Integer,
        code_failures_per_hour -> Integer,
        password_min_length -> Integer,
        lockout_threshold -> Integer,
        lockout_window_secs -> Integer,
        lockout_secs -> Integer,
        session_idle_secs -> Integer,
        session_absolute_secs -> Integer,
        self_registration -> Text,
        registration_domains -> Text,
        anonymous_solutions -> Bool,
        contacts_may_close -> Bool,
        contacts_may_reopen -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    contacts (org_id, id) {
        org_id -> Text,
        id -> Text,
        email -> Nullable<Text>,
        mobile -> Nullable<Text>,
        name -> Text,
        time_zone -> Text,
        password_hash -> Nullable<Text>,
        status -> Text,
        password_failures -> Integer,
        password_window_started_at -> Nullable<Timestamp>,
        consecutive_password_failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    admins (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        is_platform -> Bool,
        status -> Text,
        password_failures -> Integer,
        password_window_started_at -> Nullable<Timestamp>,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    org_admins (org_id, admin_id) {
        org_id -> Text,
        admin_id -> Text,
    }
}

diesel::table! {
    contact_sessions (org_id, id) {
        org_id -> Text,
        id -> Text,
        contact_id -> Text,
        token_hash -> Text,
        auth_method -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        client_ip -> Text,
        user_agent -> Text,
    }
}

diesel::table! {
    admin_sessions (id) {
        id -> Text,
        admin_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        proved_at -> Timestamp,
        client_ip -> Text,
        user_agent -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        occurred_at -> Timestamp,
        actor -> Text,
        kind -> Text,
        detail -> Text,
        client_ip -> Text,
    }
}

diesel::table! {
    service_categories (org_id, id) {
        org_id -> Text,
        id -> Text,
        name -> Text,
        description -> Text,
        active -> Bool,
        position -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    solutions (org_id, id) {
        org_id -> Text,
        id -> Text,
        topic -> Text,
        title -> Text,
        body -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    requests (org_id, id) {
        org_id -> Text,
        id -> Text,
        number -> BigInt,
        contact_id -> Text,
        category_id -> Text,
        subject -> Text,
        description -> Text,
        priority -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        assignee_id -> Nullable<Text>,
    }
}

diesel::table! {
    request_replies (org_id, id) {
        org_id -> Text,
        id -> Text,
        request_id -> Text,
        author_kind -> Text,
        author_id -> Nullable<Text>,
        body -> Text,
        internal -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_attempts (org_id, id) {
        org_id -> Text,
        id -> Text,
        contact_id -> Nullable<Text>,
        identifier_hash -> Text,
        purpose -> Text,
        password_proven -> Bool,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    one_time_codes (org_id, id) {
        org_id -> Text,
        id -> Text,
        attempt_id -> Text,
        contact_id -> Text,
        purpose -> Text,
        code_hash -> Text,
        guesses -> Integer,
        max_guesses -> Integer,
        status -> Text,
        lifetime_secs -> Integer,
        created_at -> Timestamp,
        valid_from -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    limit_events (org_id, bucket, occurred_at) {
        org_id -> Text,
        bucket -> Text,
        occurred_at -> Timestamp,
        seq -> BigInt,
    }
}

diesel::table! {
    common_code_logins (id) {
        id -> Text,
        attempts -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        channel -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        code_refs -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    request_attachments (org_id, id) {
        org_id -> Text,
        id -> Text,
        request_id -> Text,
        reply_id -> Nullable<Text>,
        file_name -> Text,
        content_type -> Text,
        size_bytes -> Integer,
        data -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    message_templates (org_id, message) {
        org_id -> Text,
        message -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        sms -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sms_gateways (org_id) {
        org_id -> Text,
        url -> Text,
        method -> Text,
        headers -> Text,
        body_template -> Text,
        content_type -> Text,
        accept_statuses -> Text,
        timeout_secs -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    registrations (org_id, id) {
        org_id -> Text,
        id -> Text,
        email -> Text,
        mobile -> Nullable<Text>,
        name -> Text,
        password_hash -> Nullable<Text>,
        state -> Text,
        email_proven -> Bool,
        mobile_proven -> Bool,
        client_ip -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        decided_by -> Nullable<Text>,
    }
}

diesel::table! {
    contact_changes (org_id, attempt_id) {
        org_id -> Text,
        attempt_id -> Text,
        contact_id -> Text,
        field -> Text,
        new_value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        name -> Text,
        secret_hash -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(login_policies -> organizations (org_id));
diesel::joinable!(org_admins -> organizations (org_id));
diesel::joinable!(org_admins -> admins (admin_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    login_policies,
    contacts,
    admins,
    org_admins,
    contact_sessions,
    admin_sessions,
    audit_events,
    service_categories,
    solutions,
    requests,
    request_replies,
    login_attempts,
    one_time_codes,
    limit_events,
    common_code_logins,
    outbox,
    request_attachments,
    message_templates,
    sms_gateways,
    registrations,
    contact_changes,
    api_keys,
);
