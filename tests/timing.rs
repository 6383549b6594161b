//! Whether response times tell known identifiers from unknown ones, on the password login and
//! on the code request.
//!
//! Requests for a known and an unknown identifier are sent in pairs, in a random order within
//! each pair, so that whatever else loads the machine falls on both alike. The two samples are
//! compared with the Mann-Whitney U test (no assumption about the shape of the distribution):
//! they count as told apart when the difference is both significant (|z| above 4) and large
//! (one side slower in more than 65% of the pairings). The statistic's own tests below show it
//! does tell an obviously different pair of samples apart, and not two samples of one kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestApp};
use portico::{
    domain::contact::Identifier,
    storage::{accounts, orgs, schema::limit_events},
};
use serde_json::json;

both_backends!(
    password_login_times_do_not_tell_known_identifiers,
    code_request_times_do_not_tell_known_identifiers
);

/// The outcome of comparing two samples.
#[derive(Debug)]
struct Comparison {
    /// The normal approximation of U, corrected for ties.
    z: f64,
    /// How often a value of the first sample beats one of the second (0.5: never told apart).
    effect: f64,
}

impl Comparison {
    fn told_apart(&self) -> bool {
        self.z.abs() > 4.0 && (self.effect - 0.5).abs() > 0.15
    }
}

/// The Mann-Whitney U test of `a` against `b`.
fn mann_whitney(a: &[f64], b: &[f64]) -> Comparison {
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|v| (*v, true))
        .chain(b.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let n = n1 + n2;
    let mut rank_sum_a = 0.0;
    let mut ties = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let count = (j - i + 1) as f64;
        ties += count.powi(3) - count;
        rank_sum_a += all[i..=j].iter().filter(|(_, first)| *first).count() as f64 * rank;
        i = j + 1;
    }
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    Comparison {
        z: (u - mean) / variance.sqrt(),
        effect: u / (n1 * n2),
    }
}

/// Times `known` and `unknown` in randomly ordered pairs, `rounds` times after a warm-up;
/// `before` runs (untimed) before every request.
async fn sample<K, U, B, KF, UF, BF>(
    rounds: usize,
    mut known: K,
    mut unknown: U,
    mut before: B,
) -> (Vec<f64>, Vec<f64>)
where
    K: FnMut(usize) -> KF,
    U: FnMut(usize) -> UF,
    B: FnMut() -> BF,
    KF: std::future::Future<Output = ()>,
    UF: std::future::Future<Output = ()>,
    BF: std::future::Future<Output = ()>,
{
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds + 5 {
        let known_first = rand::random::<bool>();
        for second in [false, true] {
            before().await;
            let started = Instant::now();
            if known_first != second {
                known(round).await;
                if round >= 5 {
                    a.push(started.elapsed().as_secs_f64());
                }
            } else {
                unknown(round).await;
                if round >= 5 {
                    b.push(started.elapsed().as_secs_f64());
                }
            }
        }
    }
    (a, b)
}

fn median(values: &[f64]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Duration::from_secs_f64(sorted[sorted.len() / 2])
}

async fn post(base: &str, path: &str, body: serde_json::Value) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/api/v1{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn password_login_times_do_not_tell_known_identifiers(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let base = app.base.clone();
    let db = app.app.db.clone();
    let (a, b) = sample(
        60,
        |_| {
            let base = base.clone();
            async move {
                let body = json!({ "identifier": "demo@acme.example", "password": "not it at all" });
                let status = post(&base, "/portals/acme/login/password", body).await;
                assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
            }
        },
        |n| {
            let base = base.clone();
            async move {
                let body = json!({ "identifier": format!("nobody{n}@acme.example"), "password": "not it at all" });
                let status = post(&base, "/portals/acme/login/password", body).await;
                assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
            }
        },
        || {
            let db = db.clone();
            async move {
                // Keep the known contact short of a lockout, so every attempt takes the
                // ordinary path.
                db.run(|conn| {
                    let org = orgs::find_by_slug(conn, "acme")?.unwrap();
                    let identifier = Identifier::parse("demo@acme.example", "US")?;
                    let found = accounts::find_contact_by_identifier(conn, &org.id, &identifier)?;
                    accounts::clear_password_failures(conn, &org.id, &found.unwrap().contact.id)
                })
                .await
                .unwrap();
            }
        },
    )
    .await;
    let comparison = mann_whitney(&a, &b);
    eprintln!(
        "password login ({backend:?}): known median {:?}, unknown median {:?}, {comparison:?}",
        median(&a),
        median(&b)
    );
    assert!(!comparison.told_apart(), "{comparison:?}");
}

async fn code_request_times_do_not_tell_known_identifiers(backend: Backend) {
    let Some(app) = TestApp::demo_with(backend, |config| {
        config.limits.code_requests_per_ip_per_hour = 1_000_000;
        config.limits.code_requests_per_org_per_hour = 1_000_000;
    })
    .await
    else {
        return;
    };
    let base = app.base.clone();
    let db = app.app.db.clone();
    let (a, b) = sample(
        60,
        |_| {
            let base = base.clone();
            async move {
                let body = json!({ "identifier": "demo@globex.example" });
                let status = post(&base, "/portals/globex/login/otp", body).await;
                assert!(status.is_success(), "{status}");
            }
        },
        |n| {
            let base = base.clone();
            async move {
                let body = json!({ "identifier": format!("nobody{n}@globex.example") });
                let status = post(&base, "/portals/globex/login/otp", body).await;
                assert!(status.is_success(), "{status}");
            }
        },
        || {
            let db = db.clone();
            async move {
                // Forget the cooldown and the hourly limits, so every request makes a code.
                db.run(|conn| {
                    diesel::RunQueryDsl::execute(diesel::delete(limit_events::table), conn)?;
                    Ok(())
                })
                .await
                .unwrap();
            }
        },
    )
    .await;
    let comparison = mann_whitney(&a, &b);
    eprintln!(
        "code request ({backend:?}): known median {:?}, unknown median {:?}, {comparison:?}",
        median(&a),
        median(&b)
    );
    assert!(!comparison.told_apart(), "{comparison:?}");
}

/// A reproducible stream of noise in [0, 1).
fn noise(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*seed >> 11) as f64 / (1u64 << 53) as f64
}

#[test]
fn the_statistic_tells_a_slower_path_apart() {
    let mut seed = 7;
    let fast: Vec<f64> = (0..60).map(|_| 0.020 + 0.010 * noise(&mut seed)).collect();
    let slow: Vec<f64> = (0..60).map(|_| 0.026 + 0.010 * noise(&mut seed)).collect();
    let comparison = mann_whitney(&slow, &fast);
    assert!(comparison.told_apart(), "{comparison:?}");
    assert!(comparison.effect > 0.65);
}

#[test]
fn the_statistic_does_not_tell_one_kind_apart() {
    let mut seed = 11;
    let a: Vec<f64> = (0..60).map(|_| 0.020 + 0.010 * noise(&mut seed)).collect();
    let b: Vec<f64> = (0..60).map(|_| 0.020 + 0.010 * noise(&mut seed)).collect();
    let comparison = mann_whitney(&a, &b);
    assert!(!comparison.told_apart(), "{comparison:?}");
    let same = mann_whitney(&a, &a);
    assert!(
        same.z.abs() < 1e-9 && (same.effect - 0.5).abs() < 1e-9,
        "{same:?}"
    );
}
