//! Validated identifiers ("parse, don't validate").

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;

macro_rules! id_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Accepts 1..=128 characters of `[A-Za-z0-9_.:-]`.
            pub fn parse(s: impl Into<String>) -> Result<Self, InvalidId> {
                let s = s.into();
                let ok = !s.is_empty()
                    && s.len() <= 128
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
                if ok { Ok(Self(s)) } else { Err(InvalidId { kind: stringify!($name), value: s }) }
            }
            pub fn as_str(&self) -> &str { &self.0 }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> { Self::parse(s) }
        }
        impl From<$name> for String { fn from(v: $name) -> String { v.0 } }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(&self.0) }
        }
    };
}

id_newtype!(
    /// The id of a configured system, e.g. `jira-cloud`.
    SystemId
);
id_newtype!(
    /// The id of an integration, e.g. `app-bugs`.
    IntegrationId
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: use 1 to 128 letters, digits, '_', '-', '.' or ':'")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
}

/// The id of an entity inside its system: Jira issue id (`10001`), ADO work item id (`42`).
/// Opaque; never empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityId(pub String);

impl EntityId {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A field key in its system: `summary`, `customfield_10050`, `System.Title`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FieldKey(pub String);

impl FieldKey {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
/// Maps keyed by field are looked up by name: `fields.get("summary")`.
impl Borrow<str> for FieldKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_spaces_and_empty() {
        assert!(SystemId::parse("jira cloud").is_err());
        assert!(SystemId::parse("").is_err());
        assert_eq!(SystemId::parse("jira-cloud").unwrap().as_str(), "jira-cloud");
    }
}
