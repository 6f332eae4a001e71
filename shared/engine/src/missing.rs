//! Mapped source fields a system stopped returning (mapping rule 12: missing is not
//! empty). Each is reported once per integration, side and field in this process, not
//! once per event: a field-context or permission change would otherwise repeat the
//! same warning for every change until an administrator fixes it.

use ferry_domain::{FieldKey, IntegrationId, Side};
use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct MissingFields {
    reported: Mutex<HashSet<(IntegrationId, Side, FieldKey)>>,
}

impl MissingFields {
    /// `true` the first time `field` of `side` is missing in `integration`.
    pub(crate) fn first_report(&self, integration: &IntegrationId, side: Side, field: &FieldKey) -> bool {
        // A poisoned set still holds valid entries.
        let mut seen = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert((integration.clone(), side, field.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_field_is_reported_once_per_integration_side_and_field() {
        let m = MissingFields::default();
        let (a, b) = (IntegrationId::parse("a").unwrap(), IntegrationId::parse("b").unwrap());
        let summary = FieldKey::new("summary");
        assert!(m.first_report(&a, Side::Left, &summary));
        assert!(!m.first_report(&a, Side::Left, &summary), "a second event is not reported again");
        assert!(m.first_report(&b, Side::Left, &summary), "another integration is reported");
        assert!(m.first_report(&a, Side::Right, &summary), "the other side is another field");
        assert!(m.first_report(&a, Side::Left, &FieldKey::new("labels")));
    }
}
