//! campaign-sender: WhatsApp campaigns from a CSV, paced, retried, resumable, at most once.
//!
//! The pipeline a row goes through is visible in the module names: [`input`] reads and
//! validates it, [`pacing`] waits for its turn, a [`provider`] sends it, the [`journal`]
//! records it, and the [`runner`] ties them together.

pub mod input;
pub mod message;
pub mod provider;
pub mod sandbox;
pub mod clock;
pub mod pacing;
pub mod journal;
