//! Diagnostics in the service: the loopback responder of either role (answers
//! `xp2p-ping` lines arriving through a tunnel: the server's for endpoint
//! probes, the client's for channel probes while it has a bridge), and the
//! client's periodic probe of every endpoint through the tunnel, recorded for
//! status and the TUI. The server's probe of its reverse channels is
//! [`channels`].

pub mod channels;

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use xp2p_core::{Layout, Role, diag};
use xp2p_store::atomic::write_atomic;
use xp2p_store::live::{self, Slot};
use xp2p_store::status::TunnelHealth;

use crate::events::Event;

/// Runs the responder on the port `role`'s Live config names (none: no
/// responder), moving or stopping it when an apply of that role changes the
/// port. `applied` must be subscribed before the runners start, so no first
/// apply goes unseen.
pub async fn responder_following_live(
    layout: Layout,
    role: Role,
    mut applied: tokio::sync::broadcast::Receiver<Event>,
) {
    let mut current: Option<(u16, tokio::task::JoinHandle<()>)> = None;
    loop {
        let port = live::read_runtime(&layout, role, Slot::Live)
            .ok()
            .flatten()
            .and_then(|rt| rt.diag_port);
        if port != current.as_ref().map(|(p, _)| *p) {
            if let Some((_, task)) = current.take() {
                task.abort();
            }
            if let Some(p) = port {
                current = Some((p, tokio::spawn(responder(role, p))));
            }
        }
        loop {
            match applied.recv().await {
                Ok(Event::ApplyDone(r)) if r.role == role => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    }
}

/// Serves `127.0.0.1:port` for `role` until aborted.
pub async fn responder(role: Role, port: u16) {
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%role, port, "diagnostics responder not started: cannot bind 127.0.0.1:{port}: {e}");
            return;
        }
    };
    tracing::info!(%role, port, "diagnostics responder on 127.0.0.1");
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                tokio::spawn(answer(s));
            }
            Err(e) => {
                tracing::warn!("diagnostics accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(s: TcpStream) {
    let (r, mut w) = s.into_split();
    let mut line = String::new();
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        BufReader::new(r.take(256)).read_line(&mut line),
    )
    .await;
    if let (Ok(Ok(_)), Some(reply)) = (read, diag::answer(&line)) {
        let _ = w.write_all(reply.as_bytes()).await;
        let _ = w.shutdown().await;
    }
}

/// Probes every client endpoint every `every`, writing `.state/tunnel-health.json`.
pub async fn prober(layout: Layout, every: Duration) {
    every_round(layout, every, probe_once).await
}

/// Runs `round` (blocking: probes and a file write) on the blocking pool
/// every `every`; a slow round makes the next one skip, never pile up.
pub(crate) async fn every_round(layout: Layout, every: Duration, round: fn(&Layout)) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let l = layout.clone();
        let _ = tokio::task::spawn_blocking(move || round(&l)).await;
    }
}

fn probe_once(layout: &Layout) {
    let Ok(Some(rt)) = live::read_runtime(layout, Role::Client, Slot::Live) else {
        return;
    };
    let Some(socks_addr) = rt.inbound_addr("socks-in") else {
        return;
    };
    let now = xp2p_store::markers::now_rfc3339();
    let health: Vec<TunnelHealth> = rt
        .endpoints
        .iter()
        .filter_map(|e| e.marker.parse().ok().map(|m| (e, m)))
        .map(|(e, marker)| {
            match xp2p_deploy::probe::ping(socks_addr, marker, Duration::from_secs(5)) {
                Ok(rtt) => TunnelHealth {
                    endpoint: e.tag.clone(),
                    state: xp2p_core::status::ProbeState::Ok,
                    rtt_ms: Some(rtt.as_secs_f64() * 1000.0),
                    error: None,
                    at: now.clone(),
                },
                Err(err) => TunnelHealth {
                    endpoint: e.tag.clone(),
                    state: xp2p_core::status::ProbeState::Failing,
                    rtt_ms: None,
                    error: Some(err),
                    at: now.clone(),
                },
            }
        })
        .collect();
    if let Ok(bytes) = serde_json::to_vec_pretty(&health)
        && let Err(e) = write_atomic(&layout.tunnel_health(), &bytes)
    {
        tracing::warn!("cannot write {}: {e}", layout.tunnel_health().display());
    }
}
