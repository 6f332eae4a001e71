//! The criteria-filter clause the JQL and WIQL query builders append after their
//! project and type scope: wrapped, and refused when it would widen the scope
//! ([`ferry_domain::filter_scope`]).

use ferry_domain::filter_scope::{scoped_clause, QueryLanguage, FILTER_RULES};
use ferry_domain::ports::QueryFilter;
use ferry_domain::{ErrorCategory, PortError};

/// ` AND (condition)`, ` AND NOT (condition)`, or nothing without a filter.
pub(crate) fn clause(lang: QueryLanguage, filter: Option<&QueryFilter>) -> Result<String, PortError> {
    let Some(f) = filter else { return Ok(String::new()) };
    scoped_clause(lang, &f.condition, f.negate).map_err(|e| {
        PortError::new(
            ErrorCategory::Config,
            format!("criteria filter {:?} is not a {lang} condition Ferry can use: {e}; {FILTER_RULES}", f.condition),
        )
    })
}
