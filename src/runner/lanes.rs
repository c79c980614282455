//! One lane per sender number: its client, its own pace and its own stop.

use crate::pacing::Pacer;
use crate::provider::Provider;
use crate::settings::Settings;
use crate::shutdown::Shutdown;

use super::Context;

/// One lane per sender: its client and a pace of its own.
pub(super) fn lanes<'a>(
    settings: &'a Settings,
    providers: &'a [Box<dyn Provider>],
    context: &Context,
) -> Vec<Lane<'a>> {
    settings
        .senders
        .iter()
        .zip(providers)
        .zip(0u64..)
        .map(|((sender, provider), i)| Lane {
            label: &sender.label,
            provider: provider.as_ref(),
            pacer: Pacer::new(
                settings.rate,
                settings.spacing,
                context.clock.clone(),
                context.seed.map(|seed| seed.wrapping_add(i)),
            ),
            halt: Shutdown::new(),
        })
        .collect()
}

/// One sending number: its client, its own quota and spacing (a `Retry-After` holds only
/// this number), and its own stop, so a refusal of one number leaves the others sending.
pub(super) struct Lane<'a> {
    pub(super) label: &'a str,
    pub(super) provider: &'a dyn Provider,
    pub(super) pacer: Pacer,
    /// Requested when this lane stops; waits of its in-flight sends end with it.
    pub(super) halt: Shutdown,
}

impl Lane<'_> {
    /// ` via LABEL` for log lines when there are several numbers; nothing otherwise.
    pub(super) fn via(&self) -> String {
        match self.label {
            "" => String::new(),
            label => format!(" via {label}"),
        }
    }
}
