//! CSV rows in.
