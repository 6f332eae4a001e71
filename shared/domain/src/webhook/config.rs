//! A system's webhook settings as configured: where the secrets live that prove a
//! delivery authentic. The values themselves are resolved by the runtime, like every
//! other secret, and become a [`super::HookSecret`].

use crate::integration::SecretRef;
use serde::{Deserialize, Serialize};

/// `webhook:` of a system. Jira admin webhooks are signed with `secret`; Azure DevOps
/// service hooks send `basic` credentials, a custom `header`, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<HookBasic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HookHeader>,
}

/// The basic-auth credentials an Azure DevOps subscription sends. The user name is no
/// secret; the password is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookBasic {
    pub username: String,
    pub password: SecretRef,
}

/// A custom header an Azure DevOps subscription sends: its name, and where its value lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookHeader {
    pub name: String,
    pub value: SecretRef,
}

impl HookConfig {
    /// Every secret reference the hook needs, for resolution and for `ferry check`.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        let mut refs: Vec<&SecretRef> = self.secret.iter().collect();
        refs.extend(self.basic.iter().map(|b| &b.password));
        refs.extend(self.header.iter().map(|h| &h.value));
        refs
    }
}
