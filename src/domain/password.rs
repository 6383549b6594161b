//! Password hashing with argon2id in a bounded pool.
//!
//! Hashing is deliberately slow and memory-hungry, so it never runs on the async executor and
//! never runs more than one hash per core at once: a burst of logins queues here instead of
//! starving page views or exhausting memory. Every check costs one full hash, including the
//! checks for unknown identifiers, empty passwords and locked contacts, which are made against
//! a dummy hash of the same parameters.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
    password_hash::SaltString,
};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

use crate::{
    AppError, config::PasswordHashing, domain::org::PASSWORD_MAX_CHARS, secret::SecretString,
};

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right; `rehash` holds a new hash when the stored one is weaker than the
    /// configured parameters.
    Match { rehash: Option<String> },
    /// Wrong password, or no hash to compare with.
    Mismatch,
}

/// The hashing pool. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Semaphore,
    dummy_hash: String,
}

impl PasswordHasher {
    /// A pool running at most `workers` hashes at once (the number of cores is right).
    pub fn new(settings: PasswordHashing, workers: usize) -> Result<Self, AppError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(AppError::internal)?;
        let dummy_hash = hash_with(&params, &random_filler())?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Semaphore::new(workers.max(1)),
                dummy_hash,
            }),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: SecretString) -> Result<String, AppError> {
        let params = self.inner.params.clone();
        self.in_pool(move || hash_with(&params, password.expose()))
            .await
    }

    /// Checks `password` against `stored`. With no stored hash the work is done against the
    /// dummy hash and the verdict is always a mismatch, so timing does not tell the two apart.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verdict, AppError> {
        let params = self.inner.params.clone();
        let real = stored.is_some();
        let target = stored.unwrap_or_else(|| self.inner.dummy_hash.clone());
        self.in_pool(move || {
            let matched = verify_with(&target, password.expose());
            if !(matched && real) {
                return Ok(Verdict::Mismatch);
            }
            let rehash = if is_weaker(&target, &params) {
                Some(hash_with(&params, password.expose())?)
            } else {
                None
            };
            Ok(Verdict::Match { rehash })
        })
        .await
    }

    async fn in_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(AppError::internal)?;
        tokio::task::spawn_blocking(work).await?
    }
}

/// Whether a password is too long to be hashed at all.
pub fn is_too_long(password: &str) -> bool {
    password.chars().count() > PASSWORD_MAX_CHARS
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(AppError::internal)
}

fn verify_with(stored: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

fn is_weaker(stored: &str, wanted: &Params) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return true;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return true;
    };
    hash.algorithm.as_str() != "argon2id"
        || params.m_cost() < wanted.m_cost()
        || params.t_cost() < wanted.t_cost()
        || params.p_cost() < wanted.p_cost()
}

fn random_filler() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(PasswordHashing::default(), 2).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = hasher();
        let hash = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            hasher
                .verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap(),
            Verdict::Match { rehash: None }
        );
        assert_eq!(
            hasher.verify("wrong".into(), Some(hash)).await.unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn no_stored_hash_never_matches() {
        let hasher = hasher();
        let dummy = hasher.inner.dummy_hash.clone();
        assert_eq!(
            hasher.verify("x".into(), None).await.unwrap(),
            Verdict::Mismatch
        );
        assert!(dummy.starts_with("$argon2id$"));
    }

    #[tokio::test]
    async fn weaker_hashes_are_upgraded_on_match() {
        let weak = Params::new(8 * 1024, 1, 1, None).unwrap();
        let old = hash_with(&weak, "long enough password").unwrap();
        let verdict = hasher()
            .verify("long enough password".into(), Some(old))
            .await
            .unwrap();
        let Verdict::Match { rehash: Some(new) } = verdict else {
            panic!("a weaker hash must be upgraded");
        };
        assert!(new.contains("m=19456,t=2,p=1"));
    }
}
