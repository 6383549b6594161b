//! Transactions side by side: each caller's writes are stored whole or not at all, whatever the
//! transactions queued beside it do.
//!
//! On SQLite every transaction goes to one writing thread that commits several at once, each in
//! a savepoint of its own; on PostgreSQL each runs on its own connection. Both must keep one
//! caller's failure, or even a panic, from taking anyone else's writes with it. Text searches
//! waiting for their turn leave the pool's connections to everything else. Limit counts are
//! read through the indexes however many events a bucket holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::{Backend, TestApp};
use diesel::RunQueryDsl;
use portico::{
    AppError,
    storage::limits::{self, Limit, Scope},
};

both_backends!(
    a_refused_transaction_takes_only_its_own_writes_with_it,
    a_transaction_that_panics_leaves_nothing_half_written,
    a_busy_limit_bucket_counts_every_window_exactly,
    a_caller_that_stopped_waiting_finds_nothing_stored,
    searches_waiting_their_turn_leave_connections_to_other_work,
    admitting_by_several_limits_reads_each_window_then_adds_one_event_per_bucket,
    delivered_codes_of_several_organizations_start_their_own_lifetimes,
    a_delivery_round_drops_messages_whose_codes_cannot_be_used
);

/// A code request is admitted by several limits, one bucket named twice (its hour and its
/// day), and reads one more bucket beside them: it is counted in each limited bucket once and
/// in the read one not at all, and the windows answered are those from before it counted. A
/// request that a limit refuses, by count or by coming too soon, leaves nothing behind.
async fn admitting_by_several_limits_reads_each_window_then_adds_one_event_per_bucket(
    backend: Backend,
) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    // PostgreSQL keeps microseconds.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now().naive_utc(), 6);
    let (hour_ago, day_ago) = (
        now - chrono::Duration::hours(1),
        now - chrono::Duration::days(1),
    );
    let admit = move |conn: &mut portico::storage::DbConnection, caps: [i64; 3], calm| {
        let limits = [
            Limit {
                bucket: "several:id",
                since: hour_ago,
                cap: caps[0],
                calm_since: calm,
            },
            Limit {
                bucket: "several:id",
                since: day_ago,
                cap: caps[1],
                calm_since: None,
            },
            Limit {
                bucket: "several:ip",
                since: hour_ago,
                cap: caps[2],
                calm_since: None,
            },
        ];
        limits::admit(
            conn,
            Scope::platform(),
            &limits,
            &[("several:read", hour_ago)],
            now,
        )
    };
    let early = now - chrono::Duration::hours(3);
    let first = app
        .app
        .db
        .write(move |conn| {
            limits::record(conn, Scope::platform(), "several:id", early)?;
            limits::record(conn, Scope::platform(), "several:read", now)?;
            admit(conn, [5, 5, 5], None)
        })
        .await
        .unwrap();
    assert!(first.admitted);
    let counts: Vec<i64> = first.limits.iter().map(|w| w.count).collect();
    assert_eq!(counts, [0, 1, 0], "windows as they were before counting");
    assert_eq!(first.limits[0].latest, Some(early));
    assert_eq!(first.read.len(), 1);
    assert_eq!(first.read[0].count, 1);
    assert_eq!(app.limit_events("several:id").await, 2);
    assert_eq!(app.limit_events("several:ip").await, 1);
    assert_eq!(
        app.limit_events("several:read").await,
        1,
        "a read bucket is not counted"
    );

    // The day's window holds two events now: a cap of two refuses the next request.
    let full = app
        .app
        .db
        .write(move |conn| admit(conn, [5, 2, 5], None))
        .await
        .unwrap();
    assert!(!full.admitted);
    let counts: Vec<i64> = full.limits.iter().map(|w| w.count).collect();
    assert_eq!(counts, [1, 2, 1]);
    // The latest event came at `now`: a request that must come a minute after it is early.
    let early_again = app
        .app
        .db
        .write(move |conn| admit(conn, [5, 5, 5], Some(now - chrono::Duration::minutes(1))))
        .await
        .unwrap();
    assert!(!early_again.admitted);
    let limit = Limit {
        bucket: "several:id",
        since: hour_ago,
        cap: 5,
        calm_since: Some(now - chrono::Duration::minutes(1)),
    };
    assert_eq!(
        limit.comes_too_soon(&early_again.limits[0]),
        Some(chrono::Duration::minutes(1))
    );
    assert_eq!(
        app.limit_events("several:id").await,
        2,
        "refusals left nothing"
    );
    assert_eq!(
        app.limit_events("several:ip").await,
        1,
        "refusals left nothing"
    );
    let second = app
        .app
        .db
        .run(move |conn| {
            limits::windows(
                conn,
                Scope::platform(),
                &[("several:id", hour_ago), ("several:ip", hour_ago)],
            )
        })
        .await
        .unwrap();
    assert_eq!(second[0].last_place, Some(2));
    assert_eq!(second[0].latest, Some(now));
}

/// PostgreSQL only: SQLite plans each statement from its indexes, with no statistics to go
/// stale. A connection counts in a bucket on plans it keeps (as PostgreSQL may choose to after
/// five runs of a statement) while the statistics say the events table holds ten events, then
/// the bucket grows by 5,000 events: its counts must not walk the table on a plan kept from
/// when a walk was the cheapest way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_grows_is_counted_by_plans_for_its_size() {
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        return;
    };
    let now = Utc::now().naive_utc();
    let since = now - chrono::Duration::hours(1);
    let (count, walks) = app
        .app
        .db
        .run(move |conn| {
            for _ in 0..10 {
                limits::record(conn, Scope::platform(), "growing", now)?;
            }
            diesel::sql_query("ANALYZE limit_events").execute(conn)?;
            // What PostgreSQL may choose after five runs of a statement, at once.
            diesel::sql_query("SET plan_cache_mode = force_generic_plan").execute(conn)?;
            for _ in 0..10 {
                limits::count_since(conn, Scope::platform(), "growing", since)?;
            }
            diesel::sql_query(
                "INSERT INTO limit_events (org_id, bucket, occurred_at, seq) \
                 SELECT 'platform', 'growing', now() AT TIME ZONE 'UTC', 10 + n \
                 FROM generate_series(1, 5000) AS n",
            )
            .execute(conn)?;
            let before = table_walks(conn)?;
            let mut count = 0;
            for _ in 0..5 {
                count = limits::count_since(conn, Scope::platform(), "growing", since)?;
            }
            Ok((count, table_walks(conn)? - before))
        })
        .await
        .unwrap();
    assert_eq!(count, 5010, "every event in the hour is counted");
    assert_eq!(walks, 0, "a count walked the whole events table");
}

/// How many times the limit events table was read from end to end, as the statistics count,
/// with this connection's latest reads counted in.
fn table_walks(conn: &mut portico::storage::DbConnection) -> Result<i64, AppError> {
    diesel::sql_query("SELECT pg_stat_force_next_flush()").execute(conn)?;
    diesel::sql_query("SELECT pg_stat_clear_snapshot()").execute(conn)?;
    let walks: TableWalks = diesel::sql_query(
        "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'limit_events'",
    )
    .get_result(conn)?;
    Ok(walks.seq_scan)
}

/// The statistics' count of walks over a table.
#[derive(diesel::QueryableByName)]
struct TableWalks {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq_scan: i64,
}

/// Writes two events named after `n`, then fails when `refuse` says so.
async fn two_events(app: &TestApp, n: usize, refuse: bool) -> Result<usize, AppError> {
    app.app
        .db
        .transaction(move |conn| {
            let now = Utc::now().naive_utc();
            limits::record(conn, Scope::platform(), &format!("together:{n}:a"), now)?;
            limits::record(conn, Scope::platform(), &format!("together:{n}:b"), now)?;
            if refuse {
                return Err(AppError::Conflict("refused on purpose".to_owned()));
            }
            Ok(n)
        })
        .await
}

async fn a_refused_transaction_takes_only_its_own_writes_with_it(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..300 {
        let app = app.clone();
        calls.spawn(async move { (n, two_events(&app, n, n % 3 == 0).await) });
    }
    for (n, outcome) in calls.join_all().await {
        match outcome {
            Ok(kept) => assert!(n % 3 != 0 && kept == n, "caller {n} got {kept}"),
            Err(AppError::Conflict(_)) => assert_eq!(n % 3, 0, "caller {n} refused"),
            Err(other) => panic!("caller {n}: {other}"),
        }
    }
    assert_eq!(app.limit_events("together:").await, 2 * 200);
    for n in [0, 3, 297] {
        assert_eq!(app.limit_events(&format!("together:{n}:")).await, 0, "{n}");
    }
    for n in [1, 2, 298, 299] {
        assert_eq!(app.limit_events(&format!("together:{n}:")).await, 2, "{n}");
    }
}

async fn a_transaction_that_panics_leaves_nothing_half_written(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..60 {
        let app = app.clone();
        calls.spawn(async move {
            let outcome = app
                .app
                .db
                .transaction(move |conn| {
                    let now = Utc::now().naive_utc();
                    limits::record(conn, Scope::platform(), &format!("together:{n}:a"), now)?;
                    assert!(n != 30, "a bug in the middle of a transaction");
                    limits::record(conn, Scope::platform(), &format!("together:{n}:b"), now)?;
                    Ok(())
                })
                .await;
            (n, outcome.is_ok())
        });
    }
    for (n, stored) in calls.join_all().await {
        let events = app.limit_events(&format!("together:{n}:")).await;
        assert_eq!(events, if stored { 2 } else { 0 }, "caller {n}");
        assert!(
            n != 30 || !stored,
            "the panicking caller was told it succeeded"
        );
    }
    assert!(
        matches!(two_events(&app, 1000, false).await, Ok(1000)),
        "the writer works on after a panic"
    );
    assert_eq!(app.limit_events("together:1000:").await, 2);
}

/// Counts come from the places of two events, not from walking the window: check them against
/// the events actually recorded, one a minute over five hours, through windows of every size.
async fn a_busy_limit_bucket_counts_every_window_exactly(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let now = Utc::now().naive_utc();
    let counts = app
        .app
        .db
        .transaction(move |conn| {
            for minutes_ago in (0..300).rev() {
                let at = now - chrono::Duration::minutes(minutes_ago);
                limits::record(conn, Scope::platform(), "busy", at)?;
                limits::record(conn, Scope::platform(), "quiet", now)?;
            }
            let mut counts = Vec::new();
            for window in [0, 1, 59, 60, 61, 299, 300, 1000] {
                let since = now - chrono::Duration::minutes(window) - chrono::Duration::seconds(1);
                let busy = limits::count_since(conn, Scope::platform(), "busy", since)?;
                counts.push((window, busy));
            }
            let later = limits::count_since(conn, Scope::platform(), "busy", now)?;
            let other = limits::count_since(
                conn,
                Scope::platform(),
                "never",
                now - chrono::Duration::days(1),
            )?;
            Ok((counts, later, other))
        })
        .await
        .map_err(|error| error.to_string());
    let Ok((counts, later, other)) = counts else {
        panic!("counting failed: {counts:?}");
    };
    for (window, counted) in counts {
        assert_eq!(
            counted,
            (window + 1).min(300),
            "events in the last {window} minutes"
        );
    }
    assert_eq!(later, 0, "nothing after the latest event");
    assert_eq!(other, 0, "an empty bucket");
    assert_eq!(app.limit_events("busy").await, 300);
}

/// A request that times out while its transaction waits its turn is answered 503: the
/// transaction must not run afterwards and store what the client was told failed. On SQLite a
/// slow transaction holds the one writer while twenty others give up waiting; on PostgreSQL
/// nothing queues, and each is stored exactly when its caller was told so.
async fn a_caller_that_stopped_waiting_finds_nothing_stored(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let slow = {
        let app = app.clone();
        tokio::spawn(async move {
            app.app
                .db
                .transaction(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(600));
                    Ok(())
                })
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut impatient = tokio::task::JoinSet::new();
    for n in 0..20 {
        let app = app.clone();
        impatient.spawn(async move {
            let waited = std::time::Duration::from_millis(200);
            let told = tokio::time::timeout(waited, two_events(&app, n, false)).await;
            (n, matches!(told, Ok(Ok(_))))
        });
    }
    let told = impatient.join_all().await;
    assert!(matches!(slow.await, Ok(Ok(()))));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (n, stored) in told {
        let events = app.limit_events(&format!("together:{n}:")).await;
        assert_eq!(events, if stored { 2 } else { 0 }, "caller {n}");
        if backend == Backend::Sqlite {
            assert!(!stored, "caller {n} was served past the slow writer");
        }
    }
}

/// Many text searches at once, each stuck in its turn until released: work that does not
/// search still gets a connection at once. Searches waiting for a search thread must not hold
/// the connections every other page needs.
async fn searches_waiting_their_turn_leave_connections_to_other_work(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Arc::new(std::sync::Mutex::new(gate));
    let mut searches = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (db, gate) = (app.app.db.clone(), gate.clone());
        searches.spawn(async move {
            db.read_list(true, move |_| {
                let _ = gate.lock().unwrap().recv();
                Ok(())
            })
            .await
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let other =
        tokio::time::timeout(std::time::Duration::from_secs(3), app.app.db.run(|_| Ok(7))).await;
    for _ in 0..40 {
        let _ = release.send(());
    }
    assert_eq!(
        other.expect("other work waited for the searches").unwrap(),
        7
    );
    for finished in searches.join_all().await {
        finished.unwrap();
    }
}

/// The codes of the messages one delivery round sent, from two organizations and with two
/// lifetimes, each start their own lifetime from the moment of sending, in their own
/// organization only: a code named with another organization's id stays as it was, and so
/// does a code another copy already activated.
async fn delivered_codes_of_several_organizations_start_their_own_lifetimes(backend: Backend) {
    use diesel::prelude::*;
    use portico::storage::{otp, schema::one_time_codes};
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    // Whole microseconds, as PostgreSQL keeps them.
    let sent = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .unwrap()
        .naive_utc();
    let made = sent - chrono::Duration::minutes(2);
    let codes = app
        .app
        .db
        .run(move |conn| {
            let mut codes = Vec::new();
            for (slug, email, lifetime) in [
                ("globex", "demo@globex.example", 300),
                ("globex", "c.mendoza@globex.example", 600),
                ("umbrella", "demo@umbrella.example", 300),
                ("umbrella", "t.nguyen@umbrella.example", 300),
            ] {
                codes.push(pending_code(conn, slug, email, lifetime, made)?);
            }
            Ok(codes)
        })
        .await
        .unwrap();
    let (globex, umbrella) = (codes[0].0, codes[2].0);
    let activated_before = sent - chrono::Duration::seconds(30);
    let asked = vec![
        codes[0].clone(),
        codes[1].clone(),
        codes[2].clone(),
        // The fourth code, named with the other organization's id.
        (globex, codes[3].1.clone()),
    ];
    let ids: Vec<String> = codes.iter().map(|(_, id)| id.clone()).collect();
    let stored = app
        .app
        .db
        .transaction(move |conn| {
            otp::activate(conn, &asked[2..3], activated_before)?;
            otp::activate(conn, &asked, sent)?;
            Ok(one_time_codes::table
                .filter(one_time_codes::id.eq_any(ids))
                .select((
                    one_time_codes::id,
                    one_time_codes::status,
                    one_time_codes::expires_at,
                ))
                .load::<(String, String, Option<chrono::NaiveDateTime>)>(conn)?)
        })
        .await
        .unwrap();
    let state = |id: &str| {
        stored
            .iter()
            .find(|(stored, ..)| stored == id)
            .map(|(_, status, expires)| (status.as_str(), expires.unwrap()))
            .unwrap()
    };
    let after = |secs: i64| sent + chrono::Duration::seconds(secs);
    assert_eq!(state(&codes[0].1), ("active", after(300)));
    assert_eq!(state(&codes[1].1), ("active", after(600)));
    assert_eq!(
        state(&codes[2].1),
        ("active", activated_before + chrono::Duration::seconds(300)),
        "an active code kept its first start"
    );
    assert_eq!(
        state(&codes[3].1),
        ("pending", made + chrono::Duration::seconds(300)),
        "another organization's code was activated"
    );
    assert_ne!(globex, umbrella);
}

/// A delivery round claims its messages together and drops, unsent, those whose codes can no
/// longer be used: a used code, and a code named with an organization that is not its own.
/// A live code's message and a message without codes go out in the same round.
async fn a_delivery_round_drops_messages_whose_codes_cannot_be_used(backend: Backend) {
    use diesel::prelude::*;
    use portico::storage::{
        outbox::{self, NewMessage},
        schema::{one_time_codes, outbox as queue},
    };
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let queued = app
        .app
        .db
        .run(move |conn| {
            let now = Utc::now().naive_utc();
            let mut codes = Vec::new();
            for (slug, email) in [
                ("globex", "demo@globex.example"),
                ("globex", "c.mendoza@globex.example"),
                ("umbrella", "demo@umbrella.example"),
            ] {
                let (org_id, code) = pending_code(conn, slug, email, 300, now)?;
                codes.push((org_id, code, email));
            }
            diesel::update(one_time_codes::table.filter(one_time_codes::id.eq(&codes[1].1)))
                .set(one_time_codes::status.eq("used"))
                .execute(conn)?;
            let globex = codes[0].0;
            let carrying = [
                ("live", vec![format!("{}:{}", globex, codes[0].1)]),
                ("used", vec![format!("{}:{}", globex, codes[1].1)]),
                ("foreign", vec![format!("{}:{}", globex, codes[2].1)]),
                ("none", Vec::new()),
            ];
            let mut queued = Vec::new();
            for (what, code_refs) in carrying {
                let message = NewMessage {
                    org_id: Some(globex),
                    channel: "email",
                    recipient: codes[0].2.to_owned(),
                    subject: format!("message {what}"),
                    body_text: "body".to_owned(),
                    body_html: String::new(),
                    code_refs,
                };
                queued.push((what, outbox::enqueue(conn, &message, now)?));
            }
            Ok(queued)
        })
        .await
        .unwrap();
    app.deliver_now().await;
    let states = app
        .app
        .db
        .run(|conn| {
            Ok(queue::table
                .select((queue::id, queue::state))
                .load::<(String, String)>(conn)?)
        })
        .await
        .unwrap();
    let state = |id: &str| {
        states
            .iter()
            .find(|(stored, _)| stored == id)
            .map(|(_, state)| state.clone())
            .unwrap()
    };
    let found: Vec<(&str, String)> = queued.iter().map(|(what, id)| (*what, state(id))).collect();
    assert_eq!(
        found,
        [
            ("live", "sent".to_owned()),
            ("used", "dropped".to_owned()),
            ("foreign", "dropped".to_owned()),
            ("none", "sent".to_owned()),
        ]
    );
}

/// Stores a login attempt of the contact `email` of the organization `slug`, made at `made`,
/// and a pending code for it with `lifetime` seconds; answers the organization and the code.
fn pending_code(
    conn: &mut portico::storage::DbConnection,
    slug: &str,
    email: &str,
    lifetime: u32,
    made: chrono::NaiveDateTime,
) -> Result<(portico::domain::org::OrgId, String), AppError> {
    use portico::{
        domain::{
            contact::Identifier,
            otp::{AttemptId, LoginAttempt, Purpose},
        },
        storage::{accounts, orgs, otp},
    };
    let org = orgs::find_by_slug(conn, slug)?.unwrap();
    let typed = Identifier::parse(email, "US")?;
    let contact = accounts::find_contact_by_identifier(conn, &org.id, &typed)?
        .unwrap()
        .contact;
    let attempt = LoginAttempt {
        org_id: org.id,
        id: AttemptId::new(),
        contact_id: Some(contact.id),
        identifier_hash: format!("hash-of-{email}"),
        purpose: Purpose::Login,
        password_proven: false,
        expires_at: made + chrono::Duration::minutes(15),
    };
    otp::insert_attempt(conn, &attempt, made)?;
    let code = otp::insert_code(
        conn,
        &otp::NewCode {
            org_id: &org.id,
            attempt_id: &attempt.id,
            contact_id: &contact.id,
            purpose: Purpose::Login,
            code_hash: "not-a-real-hash",
            max_guesses: 3,
            lifetime_secs: lifetime,
            now: made,
        },
    )?;
    Ok((org.id, code))
}
