//! Shared nothing: this crate exists for its tests and benches.
