//! Typed ids: an `Id<Contact>` cannot be passed where an `Id<Organization>` is expected.
//!
//! Ids are random UUIDs, stored as text in both backends.

use std::{fmt, hash::Hash, marker::PhantomData, str::FromStr};

use uuid::Uuid;

/// The id of one `T`.
pub struct Id<T> {
    uuid: Uuid,
    kind: PhantomData<fn() -> T>,
}

impl<T> Id<T> {
    /// A new random id.
    pub fn new() -> Self {
        Self::from_uuid(Uuid::new_v4())
    }

    fn from_uuid(uuid: Uuid) -> Self {
        Self {
            uuid,
            kind: PhantomData,
        }
    }

    /// Reads an id from its text form; `None` for anything that is not a UUID.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::from_str(text).ok().map(Self::from_uuid)
    }

    /// The id as 32 hex digits without hyphens, for tokens that carry it.
    pub fn simple(&self) -> String {
        self.uuid.simple().to_string()
    }

    /// Reads an id that storage wrote; a malformed one is a broken invariant.
    pub fn from_stored(text: &str) -> Result<Self, crate::AppError> {
        Self::parse(text).ok_or_else(|| crate::AppError::internal("stored id is not a UUID"))
    }
}

impl<T> Default for Id<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Id<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Id<T> {}

impl<T> PartialEq for Id<T> {
    fn eq(&self, other: &Self) -> bool {
        self.uuid == other.uuid
    }
}

impl<T> Eq for Id<T> {}

impl<T> Hash for Id<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.uuid.hash(state);
    }
}

impl<T> fmt::Display for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uuid.hyphenated().fmt(f)
    }
}

impl<T> fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uuid.hyphenated().fmt(f)
    }
}

impl<T> serde::Serialize for Id<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
