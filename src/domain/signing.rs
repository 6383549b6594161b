//! Keyed hashes made with the server's secret key: form tokens and short-lived signed values.
//!
//! Each use names its purpose, so a value signed for one purpose never verifies for another.
//! Signed values carry their expiry and are checked in constant time.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Serialize, de::DeserializeOwned};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::SecretString;

type HmacSha256 = Hmac<Sha256>;

/// The server's secret key, used for every keyed hash.
#[derive(Clone)]
pub struct Signer {
    key: SecretString,
}

#[derive(Serialize, serde::Deserialize)]
struct Envelope<T> {
    purpose: String,
    expires_at: NaiveDateTime,
    value: T,
}

impl Signer {
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    /// A keyed hash of `parts`, bound to `purpose`.
    pub fn mac(&self, purpose: &str, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = self.hmac();
        mac.update(purpose.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `mac` is the keyed hash of `parts` for `purpose`, compared in constant time.
    pub fn verify_mac(&self, purpose: &str, parts: &[&[u8]], mac: &[u8]) -> bool {
        self.mac(purpose, parts).ct_eq(mac).into()
    }

    /// Signs `value` for `purpose` until `expires_at`, as URL-safe text.
    pub fn seal<T: Serialize>(
        &self,
        purpose: &str,
        value: T,
        expires_at: NaiveDateTime,
    ) -> Option<String> {
        let envelope = Envelope {
            purpose: purpose.to_owned(),
            expires_at,
            value,
        };
        let payload = serde_json::to_vec(&envelope).ok()?;
        let mac = self.mac("sealed", &[&payload]);
        Some(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac)
        ))
    }

    /// Reads a value sealed for `purpose`; `None` when tampered with, expired or for another
    /// purpose.
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Option<T> {
        let (payload, mac) = sealed.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        if !self.verify_mac("sealed", &[&payload], &mac) {
            return None;
        }
        let envelope: Envelope<T> = serde_json::from_slice(&payload).ok()?;
        let fresh = envelope.expires_at > Utc::now().naive_utc();
        (envelope.purpose == purpose && fresh).then_some(envelope.value)
    }

    fn hmac(&self) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail.
        match HmacSha256::new_from_slice(self.key.expose().as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn signer() -> Signer {
        Signer::new("test key".into())
    }

    #[test]
    fn sealed_values_open_only_for_their_purpose_and_time() {
        let later = Utc::now().naive_utc() + Duration::minutes(5);
        let sealed = signer().seal("choice", vec![1, 2, 3], later).unwrap();
        assert_eq!(
            signer().open::<Vec<i32>>("choice", &sealed),
            Some(vec![1, 2, 3])
        );
        assert_eq!(signer().open::<Vec<i32>>("other", &sealed), None);

        let earlier = Utc::now().naive_utc() - Duration::seconds(1);
        let stale = signer().seal("choice", 1, earlier).unwrap();
        assert_eq!(signer().open::<i32>("choice", &stale), None);
    }

    #[test]
    fn tampered_values_do_not_open() {
        let later = Utc::now().naive_utc() + Duration::minutes(5);
        let sealed = signer().seal("choice", "acme", later).unwrap();
        let mut tampered = sealed.clone().into_bytes();
        tampered[3] ^= 1;
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(signer().open::<String>("choice", &tampered), None);
        let other_key = Signer::new("another key".into());
        assert_eq!(other_key.open::<String>("choice", &sealed), None);
    }
}
