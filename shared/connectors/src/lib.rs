//! Connectors for Jira Cloud REST v3 and Azure DevOps REST 7.1.
//!
//! Vendor DTOs stay private to their module; the outside sees only the domain's
//! [`ferry_domain::ports::Connector`].

pub mod adf;
pub mod ado;
pub mod http;
pub mod jira;
