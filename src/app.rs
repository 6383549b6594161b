//! The running application: configuration, database, password hashing, signing key and page
//! templates, built once at start-up and shared by every request.

use std::{path::Path, sync::Arc};

use rand::{RngCore, rngs::OsRng};

use crate::{
    AppError, Config,
    domain::{delivery::Deliveries, messages::Messages, password::PasswordHasher, signing::Signer},
    metrics::Metrics,
    secret::SecretString,
    storage::{DatabaseUrl, Db, orgs::Portals},
    web::pages::Pages,
};

/// Everything a request may need.
pub struct App {
    pub config: Config,
    pub db: Db,
    pub hasher: PasswordHasher,
    pub signer: Signer,
    pub pages: Pages,
    pub messages: Messages,
    pub deliveries: Deliveries,
    /// What `/metrics` shows of this instance.
    pub metrics: Metrics,
    /// Portals' organizations and policies as lately read.
    pub portals: Portals,
}

impl App {
    /// Connects to the database, applies pending migrations and loads the templates.
    pub fn build(config: Config) -> Result<Arc<Self>, AppError> {
        let url = DatabaseUrl::parse(&config.database_url)?;
        let db = Db::connect(&url)?;
        let applied = db.migrate()?;
        if applied > 0 {
            tracing::info!(
                migrations = applied,
                backend = db.backend(),
                "database migrated"
            );
        }
        let key = match &config.secret_key {
            Some(key) => key.clone(),
            None => load_or_create_key(&config.data_dir)?,
        };
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hasher = PasswordHasher::new(config.password_hashing, workers)?;
        let deliveries = Deliveries::from_config(&config)?;
        Ok(Arc::new(Self {
            messages: Messages::load()?,
            deliveries,
            metrics: Metrics::default(),
            portals: Portals::default(),
            config,
            db,
            hasher,
            signer: Signer::new(key),
            pages: Pages::load()?,
        }))
    }
}

/// Reads `<data dir>/secret.key`, creating it with a fresh random key (readable by the owner
/// only) on first start.
fn load_or_create_key(data_dir: &Path) -> Result<SecretString, AppError> {
    let path = data_dir.join("secret.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let key = text.trim();
        if key.len() >= 32 {
            return Ok(SecretString::from(key));
        }
        return Err(AppError::internal(format!(
            "{} holds a key shorter than 32 characters",
            path.display()
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(|error| {
        AppError::internal(format!("cannot create {}: {error}", data_dir.display()))
    })?;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let key = hex::encode(bytes);
    write_private(&path, &key)?;
    tracing::info!(path = %path.display(), "generated a new secret key");
    Ok(SecretString::new(key))
}

fn write_private(path: &Path, text: &str) -> Result<(), AppError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|error| AppError::internal(format!("cannot write {}: {error}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|error| AppError::internal(format!("cannot write {}: {error}", path.display())))
}
