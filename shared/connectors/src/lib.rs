//! Connectors for Jira Cloud REST v3, Azure DevOps REST 7.1 and Redmine (REST, JSON).
//!
//! Vendor DTOs stay private to their module; the outside sees only the domain's
//! [`ferry_domain::ports::Connector`].

pub mod adf;
pub mod ado;
mod filter;
pub mod governor;
pub mod html;
pub mod http;
pub mod jira;
pub mod redmine;
pub mod resend;
pub mod transfer;
