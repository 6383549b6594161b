//! Configuration: safe local defaults, then an optional TOML file, then `PORTICO_*`
//! environment variables, then command-line flags, each layer overriding the one before.
//!
//! Nothing here is global: a [`Config`] value is built once and handed to [`crate::App`], so
//! tests can run several configurations side by side. Secrets (the database URL, the secret
//! key) are kept in [`Secret`] so that printing a `Config` shows none of them.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::secret::{Secret, SecretString};

/// Everything Portico needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH`, a plain file path, or `postgres://...`. Default: `<data dir>/portico.db`.
    pub database_url: SecretString,
    /// Address the HTTP server listens on. Default `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// The URL people use to reach Portico; decides cookie flags. Default `http://<bind>`.
    pub public_url: String,
    /// Folder for the SQLite file, the generated secret key and the file outboxes.
    pub data_dir: PathBuf,
    /// Key for every HMAC Portico makes (form tokens, signed cookies). Generated into the
    /// data folder on first start when not configured.
    pub secret_key: Option<SecretString>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take, reading its body included, before it is answered 503.
    pub request_timeout_secs: u64,
    /// The bearer token `/metrics` asks for. Without one, `/metrics` answers only clients on
    /// the loopback address.
    pub metrics_token: Option<SecretString>,
    /// Argon2id parameters for new password hashes.
    pub password_hashing: PasswordHashing,
    /// Where emails go: an SMTP server, or `.eml` files under `<data dir>/mail/` when unset.
    pub smtp_url: Option<SecretString>,
    /// The From address of every email.
    pub mail_from: String,
    /// Where SMS go: an HTTP gateway, or JSON files under `<data dir>/sms/` when unset.
    pub sms_gateway: Option<SmsGateway>,
    /// The region assumed for mobile numbers typed without a country code (ISO 3166 code).
    pub phone_region: String,
    /// Limits that hold for every organization.
    pub limits: PlatformLimits,
    /// Addresses of load balancers and proxies whose `X-Forwarded-For` header is believed.
    /// Requests from any other address are taken to come from that address itself.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Hosts (`name` or `name:port`, lowercase) that organizations' own SMS gateways may call.
    /// Empty, the default: organizations send through the platform's gateway only, so no
    /// organization admin can make the server call into its own network.
    pub org_sms_gateway_hosts: Vec<String>,
}

/// Limits that hold for every organization, beside the ones each login policy sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformLimits {
    /// Code requests one client address may make to one organization (or the common page)
    /// per hour. Raise it where many contacts share one address.
    pub code_requests_per_ip_per_hour: u32,
    /// Code requests one organization accepts per hour from everyone together.
    pub code_requests_per_org_per_hour: u32,
    /// SMS one organization may send per day: a guard against toll fraud.
    pub sms_per_org_per_day: u32,
}

impl Default for PlatformLimits {
    fn default() -> Self {
        Self {
            code_requests_per_ip_per_hour: 30,
            code_requests_per_org_per_hour: 2_000,
            sms_per_org_per_day: 1_000,
        }
    }
}

/// A generic HTTP SMS gateway: one request per message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsGateway {
    /// The URL to call; may carry credentials, so it is kept secret.
    pub url: SecretString,
    /// `POST` (default), `PUT` or `GET`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra headers, such as an `Authorization` header; their values are secret.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, SecretString>,
    /// A handlebars template for the body, with `{{json to}}` and `{{json body}}` for
    /// JSON-quoted values and `{{form to}}` for form-encoded ones.
    #[serde(default = "default_sms_body")]
    pub body_template: String,
    /// The body's content type.
    #[serde(default = "default_sms_content_type")]
    pub content_type: String,
    /// Statuses that mean "accepted", such as `200-299` or `200,202`.
    #[serde(default = "default_accept")]
    pub accept_statuses: String,
    /// Seconds to wait for the gateway before counting the attempt as failed.
    #[serde(default = "default_sms_timeout")]
    pub timeout_secs: u64,
}

fn default_method() -> String {
    "POST".to_owned()
}

fn default_sms_body() -> String {
    "{\"to\": {{json to}}, \"body\": {{json body}}}".to_owned()
}

fn default_sms_content_type() -> String {
    "application/json".to_owned()
}

fn default_accept() -> String {
    "200-299".to_owned()
}

fn default_sms_timeout() -> u64 {
    10
}

impl SmsGateway {
    /// Whether the gateway's answer `status` means the message was accepted.
    pub fn accepts(&self, status: u16) -> bool {
        self.accept_statuses.split(',').any(|part| {
            let part = part.trim();
            match part.split_once('-') {
                Some((low, high)) => {
                    match (low.trim().parse::<u16>(), high.trim().parse::<u16>()) {
                        (Ok(low), Ok(high)) => (low..=high).contains(&status),
                        _ => false,
                    }
                }
                None => part.parse::<u16>() == Ok(status),
            }
        })
    }
}

/// Argon2id cost parameters. Hashes carry their own, so raising these upgrades each stored
/// hash at its contact's next login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PasswordHashing {
    /// Memory per hash in KiB; at least 19456 (19 MiB).
    pub memory_kib: u32,
    /// Passes over the memory; at least 2.
    pub iterations: u32,
    /// Lanes; 1 keeps one hash on one core.
    pub parallelism: u32,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The optional TOML file: every key may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    bind: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    secret_key: Option<String>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    metrics_token: Option<String>,
    password_hashing: Option<PasswordHashing>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    sms_gateway: Option<SmsGateway>,
    phone_region: Option<String>,
    limits: Option<PlatformLimits>,
    trusted_proxies: Option<Vec<String>>,
    org_sms_gateway_hosts: Option<Vec<String>>,
}

/// Settings given on the command line, which win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub bind: Option<String>,
    pub database_url: Option<String>,
}

/// Why a configuration could not be built: one sentence for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Builds the configuration from the process environment and `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(key, _)| key.starts_with("PORTICO_"))
            .collect();
        Self::from_sources(overrides, &env)
    }

    /// Builds the configuration from explicit sources; `env` holds `PORTICO_*` variables.
    pub fn from_sources(
        overrides: &Overrides,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let config_path = overrides
            .config_file
            .clone()
            .or_else(|| env.get("PORTICO_CONFIG").map(PathBuf::from));
        let file = match config_path {
            Some(path) => read_file(&path)?,
            None => FileConfig::default(),
        };

        let pick = |flag: &Option<String>, var: &str, file: Option<String>| {
            flag.clone().or_else(|| env.get(var).cloned()).or(file)
        };
        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| env.get("PORTICO_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./var"));
        let bind_text = pick(&overrides.bind, "PORTICO_BIND", file.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            ConfigError(format!(
                "The bind address '{bind_text}' is not an IP address with a port, such as 127.0.0.1:8080."
            ))
        })?;
        let database_url = pick(
            &overrides.database_url,
            "PORTICO_DATABASE_URL",
            file.database_url,
        )
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("portico.db").display()));
        let public_url = pick(&None, "PORTICO_PUBLIC_URL", file.public_url)
            .unwrap_or_else(|| format!("http://{bind}"));
        let secret_key = pick(&None, "PORTICO_SECRET_KEY", file.secret_key).map(Secret::new);
        let max_body_bytes = match env.get("PORTICO_MAX_BODY_BYTES") {
            Some(text) => text.parse().map_err(|_| {
                ConfigError("PORTICO_MAX_BODY_BYTES must be a whole number of bytes.".to_owned())
            })?,
            None => file.max_body_bytes.unwrap_or(1024 * 1024),
        };
        let request_timeout_secs = match env.get("PORTICO_REQUEST_TIMEOUT_SECS") {
            Some(text) => text.parse().ok().filter(|secs| *secs > 0).ok_or_else(|| {
                ConfigError(
                    "PORTICO_REQUEST_TIMEOUT_SECS must be a whole number of seconds above 0."
                        .to_owned(),
                )
            })?,
            None => file.request_timeout_secs.unwrap_or(30).max(1),
        };
        let metrics_token = pick(&None, "PORTICO_METRICS_TOKEN", file.metrics_token)
            .filter(|token| !token.is_empty())
            .map(Secret::new);
        let password_hashing = file.password_hashing.unwrap_or_default();
        check_hashing(&password_hashing)?;

        let smtp_url = pick(&None, "PORTICO_SMTP_URL", file.smtp_url).map(Secret::new);
        let mail_from = pick(&None, "PORTICO_MAIL_FROM", file.mail_from)
            .unwrap_or_else(|| "Portico <portico@localhost>".to_owned());
        let sms_gateway = sms_gateway_from_env(env)?.or(file.sms_gateway);
        let proxies = match env.get("PORTICO_TRUSTED_PROXIES") {
            Some(text) => comma_list(text),
            None => file.trusted_proxies.unwrap_or_default(),
        };
        let org_sms_gateway_hosts = match env.get("PORTICO_ORG_SMS_GATEWAY_HOSTS") {
            Some(text) => comma_list(text),
            None => file.org_sms_gateway_hosts.unwrap_or_default(),
        }
        .iter()
        .map(|host| host.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|host| !host.is_empty())
        .collect();
        let trusted_proxies = proxies
            .iter()
            .map(|text| {
                text.parse().map_err(|_| {
                    ConfigError(format!("The trusted proxy '{text}' is not an IP address."))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let phone_region = pick(&None, "PORTICO_PHONE_REGION", file.phone_region)
            .unwrap_or_else(|| "US".to_owned())
            .to_uppercase();

        Ok(Self {
            database_url: Secret::new(database_url),
            bind,
            public_url: public_url.trim_end_matches('/').to_owned(),
            data_dir,
            secret_key,
            max_body_bytes,
            request_timeout_secs,
            metrics_token,
            password_hashing,
            smtp_url,
            mail_from,
            sms_gateway,
            phone_region,
            limits: file.limits.unwrap_or_default(),
            trusted_proxies,
            org_sms_gateway_hosts,
        })
    }

    /// Whether an organization's own SMS gateway may call `url`: its host, or its host and
    /// port, must be on [`Config::org_sms_gateway_hosts`].
    pub fn allows_org_gateway(&self, url: &str) -> bool {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return false;
        };
        let Some(host) = parsed.host_str() else {
            return false;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let with_port = parsed
            .port_or_known_default()
            .map(|port| format!("{host}:{port}"));
        self.org_sms_gateway_hosts
            .iter()
            .any(|allowed| *allowed == host || Some(allowed) == with_port.as_ref())
    }

    /// Whether people reach Portico over https, which makes cookies `Secure` and `__Host-`.
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The items of a comma-separated setting, trimmed, without empty ones.
fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The SMS gateway from `PORTICO_SMS_GATEWAY_*` variables, when a URL is set.
fn sms_gateway_from_env(env: &HashMap<String, String>) -> Result<Option<SmsGateway>, ConfigError> {
    let Some(url) = env.get("PORTICO_SMS_GATEWAY_URL") else {
        return Ok(None);
    };
    let headers = match env.get("PORTICO_SMS_GATEWAY_HEADERS") {
        Some(text) => serde_json::from_str(text).map_err(|_| {
            ConfigError(
                "PORTICO_SMS_GATEWAY_HEADERS must be a JSON object of header names and values."
                    .to_owned(),
            )
        })?,
        None => Default::default(),
    };
    let get = |key: &str, default: fn() -> String| env.get(key).cloned().unwrap_or_else(default);
    let timeout_secs = match env.get("PORTICO_SMS_GATEWAY_TIMEOUT_SECS") {
        Some(text) => text.parse().map_err(|_| {
            ConfigError("PORTICO_SMS_GATEWAY_TIMEOUT_SECS must be a whole number.".to_owned())
        })?,
        None => default_sms_timeout(),
    };
    Ok(Some(SmsGateway {
        url: Secret::new(url.clone()),
        method: get("PORTICO_SMS_GATEWAY_METHOD", default_method),
        headers,
        body_template: get("PORTICO_SMS_GATEWAY_BODY", default_sms_body),
        content_type: get("PORTICO_SMS_GATEWAY_CONTENT_TYPE", default_sms_content_type),
        accept_statuses: get("PORTICO_SMS_GATEWAY_ACCEPT", default_accept),
        timeout_secs,
    }))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigError(format!(
            "Cannot read the configuration file {}: {error}.",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|error| {
        ConfigError(format!(
            "The configuration file {} is not valid: {}",
            path.display(),
            error.message()
        ))
    })
}

fn check_hashing(hashing: &PasswordHashing) -> Result<(), ConfigError> {
    if hashing.memory_kib < 19_456 || hashing.iterations < 2 || hashing.parallelism < 1 {
        return Err(ConfigError(
            "password_hashing must use at least memory_kib = 19456, iterations = 2, parallelism = 1."
                .to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_local_and_safe() {
        let config = Config::from_sources(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url.expose(), "sqlite://./var/portico.db");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert!(!config.is_https());
    }

    #[test]
    fn flags_win_over_environment_and_environment_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("portico.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9000\"\npublic_url = \"https://help.example/\"\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(file),
            data_dir: Some(PathBuf::from("/srv/portico")),
            ..Overrides::default()
        };
        let config =
            Config::from_sources(&overrides, &env(&[("PORTICO_DATA_DIR", "/elsewhere")])).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(config.data_dir, PathBuf::from("/srv/portico"));
        assert_eq!(config.public_url, "https://help.example");
        assert!(config.is_https());
    }

    #[test]
    fn an_unreadable_file_is_one_clear_sentence() {
        let overrides = Overrides {
            config_file: Some(PathBuf::from("/nonexistent/portico.toml")),
            ..Overrides::default()
        };
        let error = Config::from_sources(&overrides, &env(&[])).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("Cannot read the configuration file")
        );
    }

    #[test]
    fn weak_hashing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("portico.toml");
        std::fs::write(
            &file,
            "[password_hashing]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(file),
            ..Overrides::default()
        };
        assert!(Config::from_sources(&overrides, &env(&[])).is_err());
    }

    #[test]
    fn organization_gateways_reach_only_listed_hosts() {
        let closed = Config::from_sources(&Overrides::default(), &env(&[])).unwrap();
        assert!(!closed.allows_org_gateway("https://sms.example/send"));
        let vars = env(&[(
            "PORTICO_ORG_SMS_GATEWAY_HOSTS",
            "SMS.example, 127.0.0.1:9700,",
        )]);
        let open = Config::from_sources(&Overrides::default(), &vars).unwrap();
        assert!(open.allows_org_gateway("https://sms.example/send"));
        assert!(open.allows_org_gateway("http://sms.example:8080/send"));
        assert!(open.allows_org_gateway("http://127.0.0.1:9700/sms"));
        assert!(!open.allows_org_gateway("http://127.0.0.1:5432/"));
        assert!(!open.allows_org_gateway("http://sms.example.evil.test/"));
        assert!(!open.allows_org_gateway("http://user@169.254.169.254/"));
        assert!(!open.allows_org_gateway("not a url"));
    }
}
