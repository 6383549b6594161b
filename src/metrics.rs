//! The counters and the latency histogram that `/metrics` shows, in the Prometheus text
//! format.
//!
//! Each instance counts what it did itself since it started: logins by organization, method
//! and outcome, code messages sent and failed by channel, and the time every request took.
//! Prometheus adds the instances up. The number of deliveries waiting is not counted here but
//! read from the shared outbox at each scrape, so every instance reports the same figure.
//!
//! A few atomics and one small mutex-guarded map are all this needs, so no metrics crate is
//! pulled in. Labels carry only ids and fixed words, never an address or anything typed.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::domain::org::OrgId;

/// Upper bounds, in seconds, of the request latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoginOutcome {
    Succeeded,
    Failed,
}

impl LoginOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// Every figure one instance keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (organization id, method, outcome) → attempts.
    logins: Mutex<BTreeMap<(String, &'static str, LoginOutcome), u64>>,
    /// (channel, sent) → messages carrying a code; `false` counts failed attempts.
    codes: Mutex<BTreeMap<(&'static str, bool), u64>>,
    latency: Histogram,
}

impl Metrics {
    /// Counts one login attempt. `method` is `password`, `otp` or another fixed word.
    pub fn login(&self, org_id: OrgId, method: &'static str, outcome: LoginOutcome) {
        if let Ok(mut logins) = self.logins.lock() {
            *logins
                .entry((org_id.to_string(), method, outcome))
                .or_default() += 1;
        }
    }

    /// Counts one attempt to send a message carrying a code over `channel`.
    pub fn code_message(&self, channel: &str, sent: bool) {
        let channel = match channel {
            "email" => "email",
            "sms" => "sms",
            _ => "other",
        };
        if let Ok(mut codes) = self.codes.lock() {
            *codes.entry((channel, sent)).or_default() += 1;
        }
    }

    /// Counts one request that took `elapsed`.
    pub fn request(&self, elapsed: Duration) {
        self.latency.observe(elapsed);
    }

    /// The whole exposition, with `pending` deliveries waiting in the outbox.
    pub fn render(&self, pending: i64) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP portico_logins_total Login attempts by organization, method and outcome.\n",
        );
        out.push_str("# TYPE portico_logins_total counter\n");
        if let Ok(logins) = self.logins.lock() {
            for ((org, method, outcome), count) in logins.iter() {
                let _ = writeln!(
                    out,
                    "portico_logins_total{{org_id=\"{org}\",method=\"{method}\",outcome=\"{}\"}} {count}",
                    outcome.as_str()
                );
            }
        }

        let codes = self
            .codes
            .lock()
            .map(|codes| codes.clone())
            .unwrap_or_default();
        for (sent, name, help) in [
            (
                true,
                "portico_codes_sent_total",
                "Messages carrying a code that a gateway accepted, by channel.",
            ),
            (
                false,
                "portico_codes_failed_total",
                "Failed attempts to send a message carrying a code, by channel.",
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for channel in ["email", "sms"] {
                let count = codes.get(&(channel, sent)).copied().unwrap_or(0);
                let _ = writeln!(out, "{name}{{channel=\"{channel}\"}} {count}");
            }
        }

        out.push_str(
            "# HELP portico_deliveries_pending Messages waiting in the outbox or being sent.\n",
        );
        out.push_str("# TYPE portico_deliveries_pending gauge\n");
        let _ = writeln!(out, "portico_deliveries_pending {pending}");

        self.latency
            .render(&mut out, "portico_request_duration_seconds");
        out
    }
}

/// A cumulative histogram over [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str) {
        let _ = writeln!(out, "# HELP {name} Time taken to answer each request.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            let count = bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = Duration::from_micros(self.sum_micros.load(Ordering::Relaxed)).as_secs_f64();
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let metrics = Metrics::default();
        metrics.request(Duration::from_millis(3));
        metrics.request(Duration::from_millis(70));
        metrics.request(Duration::from_secs(60));
        let text = metrics.render(2);
        assert!(text.contains("portico_request_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("portico_request_duration_seconds_bucket{le=\"0.1\"} 2\n"));
        assert!(text.contains("portico_request_duration_seconds_bucket{le=\"30\"} 2\n"));
        assert!(text.contains("portico_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("portico_request_duration_seconds_count 3\n"));
        assert!(text.contains("portico_deliveries_pending 2\n"));
    }

    #[test]
    fn logins_and_codes_are_counted_by_their_labels() {
        let metrics = Metrics::default();
        let org = OrgId::new();
        metrics.login(org, "password", LoginOutcome::Failed);
        metrics.login(org, "password", LoginOutcome::Failed);
        metrics.login(org, "otp", LoginOutcome::Succeeded);
        metrics.code_message("sms", false);
        metrics.code_message("email", true);
        let text = metrics.render(0);
        assert!(text.contains(&format!(
            "portico_logins_total{{org_id=\"{org}\",method=\"password\",outcome=\"failed\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "portico_logins_total{{org_id=\"{org}\",method=\"otp\",outcome=\"succeeded\"}} 1\n"
        )));
        assert!(text.contains("portico_codes_sent_total{channel=\"email\"} 1\n"));
        assert!(text.contains("portico_codes_failed_total{channel=\"sms\"} 1\n"));
        assert!(text.contains("portico_codes_sent_total{channel=\"sms\"} 0\n"));
    }
}
