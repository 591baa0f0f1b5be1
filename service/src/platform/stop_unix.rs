//! The service's stop request on Unix: SIGTERM (systemd's stop) or SIGINT
//! (Ctrl-C in a terminal).

use tokio::signal::unix::{SignalKind, signal};

/// SIGTERM/SIGINT, registered when this is called (call it at the start of
/// `serve`, so a stop that arrives during start-up or right after READY is a
/// clean stop, never the default disposition), awaited later.
pub fn stop_signal() -> impl std::future::Future<Output = ()> {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
