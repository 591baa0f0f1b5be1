//! Diagnostics in the service: the server's loopback responder (answers
//! `xp2p-ping` lines arriving through the tunnel) and the client's periodic
//! probe of every endpoint through the tunnel, recorded for status and the TUI.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use xp2p_core::{Layout, Role, diag};
use xp2p_store::atomic::write_atomic;
use xp2p_store::live::{self, Slot};
use xp2p_store::status::TunnelHealth;

use crate::events::Event;

/// Runs the responder on the port the server's Live config names, moving it
/// when an apply of the server role changes that port. `applied` must be
/// subscribed before the runners start, so no first apply goes unseen.
pub async fn responder_following_live(
    layout: Layout,
    mut applied: tokio::sync::broadcast::Receiver<Event>,
) {
    let mut current: Option<(u16, tokio::task::JoinHandle<()>)> = None;
    loop {
        let port = live::read_runtime(&layout, Role::Server, Slot::Live)
            .ok()
            .flatten()
            .and_then(|rt| rt.diag_port);
        if port != current.as_ref().map(|(p, _)| *p) {
            if let Some((_, task)) = current.take() {
                task.abort();
            }
            if let Some(p) = port {
                current = Some((p, tokio::spawn(responder(p))));
            }
        }
        loop {
            match applied.recv().await {
                Ok(Event::ApplyDone(r)) if r.role == Role::Server => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    }
}

/// Serves `127.0.0.1:port` until aborted.
pub async fn responder(port: u16) {
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(port, "diagnostics responder not started: {e}");
            return;
        }
    };
    tracing::info!(port, "diagnostics responder on 127.0.0.1");
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
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let l = layout.clone();
        let _ = tokio::task::spawn_blocking(move || probe_once(&l)).await;
    }
}

fn probe_once(layout: &Layout) {
    let Ok(Some(rt)) = live::read_runtime(layout, Role::Client, Slot::Live) else {
        return;
    };
    let Some(socks) = rt.inbounds.iter().find(|i| i.tag == "socks-in") else {
        return;
    };
    let host = if socks.listen == "0.0.0.0" {
        "127.0.0.1"
    } else {
        socks.listen.as_str()
    };
    let Ok(socks_addr) = format!("{host}:{}", socks.port).parse() else {
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
