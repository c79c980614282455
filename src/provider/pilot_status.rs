//! Pilot Status.
