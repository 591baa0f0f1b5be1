//! Service events (ipc.md `event.kind`), published at the moment they happen on
//! broadcast buses: one for state events, one for log lines, so a flood of log
//! lines (a chatty core) can never make a state subscriber lag. Subscribers
//! that lag lose events and must resync from a snapshot.

use tokio::sync::broadcast;

/// The events themselves are the IPC contract's (`xp2p_ipc::Event`).
pub use xp2p_ipc::{ApplyResult, Event, PhaseTiming};

/// Events kept per bus for subscribers that have not read them yet.
const BUS_CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct EventBus {
    state: broadcast::Sender<Event>,
    logs: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            state: broadcast::channel(BUS_CAPACITY).0,
            logs: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

impl EventBus {
    pub fn send(&self, e: Event) {
        if e.is_log() {
            let _ = self.logs.send(e);
        } else {
            tracing::debug!(event = ?e);
            let _ = self.state.send(e);
        }
    }

    /// Every event but log lines.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.state.subscribe()
    }

    /// Log lines only ([`Event::is_log`]).
    pub fn subscribe_logs(&self) -> broadcast::Receiver<Event> {
        self.logs.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xp2p_core::Role;

    #[test]
    fn a_log_flood_never_makes_a_state_subscriber_lag() {
        let bus = EventBus::default();
        let mut state = bus.subscribe();
        let mut logs = bus.subscribe_logs();
        for i in 0..3 * BUS_CAPACITY {
            bus.send(Event::CoreLog {
                role: Role::Client,
                line: format!("line {i}"),
            });
        }
        bus.send(Event::CoreRestartStart { role: Role::Client });
        assert_eq!(
            state.try_recv(),
            Ok(Event::CoreRestartStart { role: Role::Client })
        );
        assert!(matches!(
            logs.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
