//! Shared helpers live in the e2e binary; this library is intentionally empty.
