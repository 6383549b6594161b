//! Password hashing with argon2id in a bounded pool.
//!
//! Hashing is deliberately slow and memory-hungry, so it never runs on the async executor and
//! never runs more than one hash per core at once: a burst of logins queues here instead of
//! starving page views or exhausting memory. Every check costs one full hash, including the
//! checks for unknown identifiers, empty passwords and locked contacts, which are made against
//! a dummy hash of the same parameters.
//!
//! The pool is one [`Workers`] thread per core. Each keeps an argon2 block of memory as large
//! as the memory cost (19 MiB by default), so a hash does not pay for mapping, faulting in and
//! zeroing a fresh block. The threads run below normal priority ([`HASHING_NICENESS`]): when
//! hashes and page views compete for the cores, the scheduler serves the page views first and
//! the hashes take what is left, so a storm of logins slows other logins, not the portal. A
//! login whose request timed out before its turn is not hashed at all.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, ParamsString, SaltString},
};
use rand::rngs::OsRng;

use crate::{
    AppError, config::PasswordHashing, domain::org::PASSWORD_MAX_CHARS, secret::SecretString,
    workers::Workers,
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

/// How much lower than normal the hashing threads' priority is, as a nice value. At 5 a busy
/// hashing thread gets about a third of the share of a busy thread at normal priority when
/// they compete for a core, and all of the core when nothing else wants it.
pub const HASHING_NICENESS: i32 = 5;

/// The hashing pool. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    dummy_hash: String,
    workers: Workers<Memory>,
}

/// One hash's working memory.
#[derive(Default)]
struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// The first `params.block_count()` blocks, grown when the parameters need more.
    fn for_params(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        &mut self.blocks[..count]
    }
}

impl PasswordHasher {
    /// A pool of `workers` hashing threads (one per core is right).
    pub fn new(settings: PasswordHashing, workers: usize) -> Result<Self, AppError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(AppError::internal)?;
        let dummy_hash = hash_with(&mut Memory::default(), &params, &random_filler())?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                dummy_hash,
                workers: Workers::start("password-hash", workers, HASHING_NICENESS)
                    .map_err(AppError::internal)?,
            }),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: SecretString) -> Result<String, AppError> {
        let params = self.inner.params.clone();
        self.in_pool(move |memory| hash_with(memory, &params, password.expose()))
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
        self.in_pool(move |memory| {
            let matched = verify_with(memory, &target, password.expose());
            if !(matched && real) {
                return Ok(Verdict::Mismatch);
            }
            let rehash = if is_weaker(&target, &params) {
                Some(hash_with(memory, &params, password.expose())?)
            } else {
                None
            };
            Ok(Verdict::Match { rehash })
        })
        .await
    }

    /// Runs `work` on the next free hashing thread, in that thread's memory.
    async fn in_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        self.inner.workers.run(work).await
    }
}

/// Whether a password is too long to be hashed at all.
pub fn is_too_long(password: &str) -> bool {
    password.chars().count() > PASSWORD_MAX_CHARS
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// A new PHC-format hash of `password` with a random 16-byte salt.
fn hash_with(memory: &mut Memory, params: &Params, password: &str) -> Result<String, AppError> {
    let mut salt_bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut OsRng, &mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(AppError::internal)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2(params)
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt_bytes,
            &mut out,
            memory.for_params(params),
        )
        .map_err(AppError::internal)?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(AppError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(AppError::internal)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` hashes to `stored`, under the algorithm and parameters `stored` names;
/// the comparison takes the same time wherever the outputs differ.
fn verify_with(memory: &mut Memory, stored: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password.as_bytes(),
        salt_bytes,
        &mut out,
        memory.for_params(&params),
    );
    hashed.is_ok() && Output::new(&out).is_ok_and(|output| output == expected)
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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_on_their_own_threads_below_normal_priority() {
        let hasher = hasher();
        hasher.hash("warm the workers up".into()).await.unwrap();
        let niceness = crate::workers::tests::niceness_of_threads("password-hash");
        assert!(niceness.len() >= 2, "{niceness:?}");
        assert!(
            niceness.iter().all(|&nice| nice == HASHING_NICENESS),
            "{niceness:?}"
        );
        drop(hasher);
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
        let old = hash_with(&mut Memory::default(), &weak, "long enough password").unwrap();
        let verdict = hasher()
            .verify("long enough password".into(), Some(old))
            .await
            .unwrap();
        let Verdict::Match { rehash: Some(new) } = verdict else {
            panic!("a weaker hash must be upgraded");
        };
        assert!(new.contains("m=19456,t=2,p=1"));
    }

    #[test]
    fn hashes_agree_with_the_reference_encoder_both_ways() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(8 * 1024, 2, 1, None).unwrap();
        let mut memory = Memory::default();
        let theirs = argon2(&params)
            .hash_password(b"shared secret words", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_with(&mut memory, &theirs, "shared secret words"));
        assert!(!verify_with(&mut memory, &theirs, "shared secret word"));

        let ours = hash_with(&mut memory, &params, "shared secret words").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"shared secret words", &parsed)
                .is_ok()
        );
        assert!(!verify_with(&mut memory, &ours, ""));
        assert!(!verify_with(
            &mut memory,
            "$argon2id$v=19$m=8192,t=2,p=1$bad",
            "x"
        ));
    }
}
