//! What the people watching see while a command works: log lines ([`logging`]), the
//! preflight report before a send ([`preflight`]), and the live bar or periodic line of a
//! long pass ([`bar`]) with its ETA from the pacing ([`eta`]). What a finished run says, and
//! its exit code, live beside the runner (`runner::summary`).

mod bar;
mod eta;
mod logging;
mod preflight;

pub use bar::{Plan, Progress, Work};
pub use eta::Pace;
pub use logging::{LogFormat, Stdout, init_logging, print_out};
pub(crate) use logging::{json_logs, print_done, print_err};
pub use preflight::{Preflight, show_preflight};
