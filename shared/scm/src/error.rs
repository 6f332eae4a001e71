//! What can go wrong reading a repository.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ScmError {
    /// The server could not be reached, refused the credentials, or sent a bad pack.
    #[error("cannot fetch {url}: {cause}")]
    Remote { url: String, cause: String },
    /// The local mirror cannot be created or opened.
    #[error("the local mirror at {0} is unusable: {1}")]
    Mirror(PathBuf, String),
    /// The mirror's history cannot be read.
    #[error("cannot walk the history: {0}")]
    Walk(String),
    /// A start override (`--from-commit`) that names no usable commit.
    #[error("cannot start there: {0}")]
    Start(String),
    /// The repository has branches, but none matches the integration's patterns.
    #[error("no branch of {url} matches {patterns}; its branches are {branches}")]
    NoBranchMatches { url: String, patterns: String, branches: String },
}
