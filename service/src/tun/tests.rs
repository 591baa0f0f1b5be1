//! The owner task over the side for an OS without TUN (built and run on every
//! OS): proxy works, a TUN role is latched with the typed error everywhere it
//! is reported, and repair says so instead of claiming a baseline.

use std::time::Duration;

use xp2p_core::compile::RuntimeInfo;
use xp2p_core::compile::runtime::{RuntimeCore, RuntimeTun};
use xp2p_core::coreproc::Flavour;
use xp2p_core::{Layout, Role};
use xp2p_store::live::RUNTIME_JSON;
use xp2p_store::tunstate::{self, Phase, TunState, TunView};

use super::unsupported;
use super::*;
use crate::events::{Event, EventBus};

const BOUND: Duration = Duration::from_secs(30);
pub(crate) const UNSUPPORTED: &str = "tun_unsupported: TUN mode is not available on this OS";

/// Writes a Live `runtime.json` for `role` asking for `mode`.
pub(crate) fn live(layout: &Layout, role: Role, mode: &str) {
    let rt = RuntimeInfo {
        role,
        xp2p_version: "test".into(),
        compiled_at: String::new(),
        request_id: None,
        desired_digest: "d".into(),
        config_sha256: "c".into(),
        core: RuntimeCore {
            path: "/usr/bin/xray".into(),
            flavour: Flavour::Xray,
            version: "1.8.0".into(),
        },
        inbounds: vec![],
        endpoints: vec![],
        tun: RuntimeTun {
            enabled: mode != "proxy",
            mode: mode.into(),
            engine: (mode != "proxy").then(|| "builtin".into()),
            name: "xp2p0".into(),
            mtu: 1500,
            addr: "10.255.0.1/30".into(),
            dns_servers: vec![],
            full_tunnel_tag: String::new(),
            routes: vec!["10.9.0.0/16".into()],
            socks: (mode != "proxy").then(|| "127.0.0.1:51080".into()),
        },
        diag_port: None,
        channels: Vec::new(),
    };
    let dir = layout.live_dir(role);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(RUNTIME_JSON), serde_json::to_vec(&rt).unwrap()).unwrap();
}

async fn next_view(events: &mut tokio::sync::broadcast::Receiver<Event>) -> TunView {
    loop {
        match tokio::time::timeout(BOUND, events.recv()).await {
            Ok(Ok(Event::TunPhase { tun, .. })) => return tun,
            Ok(Ok(_)) => {}
            other => panic!("no tun.phase event: {other:?}"),
        }
    }
}

#[tokio::test]
async fn without_tun_on_this_os_a_tun_role_is_latched_with_the_typed_error_and_proxy_works() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), dir.path().join("logs"));
    live(&layout, Role::Client, "full");
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let owner = spawn_with::<unsupported::Backend>(Role::Client, layout.clone(), bus);

    // At start: the event, and the state file that status and the snapshot read.
    let v = next_view(&mut events).await;
    assert_eq!(v.phase, Phase::ErrorLatched, "{v:?}");
    assert_eq!(v.last_error.as_deref(), Some(UNSUPPORTED));
    assert_eq!((v.mode.as_str(), v.device.as_str()), ("full", "xp2p0"));
    assert_eq!(v.next_retry_at, None, "retrying cannot help");
    let on_disk = tunstate::view(&layout, Role::Client).expect("a state file");
    assert_eq!(on_disk.phase, Phase::ErrorLatched);
    assert_eq!(on_disk.last_error.as_deref(), Some(UNSUPPORTED));
    assert!(
        on_disk.summary().contains(UNSUPPORTED),
        "{}",
        on_disk.summary()
    );

    // After an apply (what `apply --wait` and `mode --wait` report).
    let hook = owner.hook();
    let v = tokio::time::timeout(BOUND, hook("apply"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.phase, Phase::ErrorLatched);
    assert_eq!(v.last_error.as_deref(), Some(UNSUPPORTED));

    // Back to proxy: nothing latched, nothing asked of the OS.
    live(&layout, Role::Client, "proxy");
    let v = tokio::time::timeout(BOUND, hook("apply"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.phase, Phase::Disabled, "{v:?}");
    assert_eq!(v.last_error, None);

    // Latched again, then an explicit stop clears the record.
    live(&layout, Role::Client, "split");
    let v = tokio::time::timeout(BOUND, hook("apply"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((v.phase, v.mode.as_str()), (Phase::ErrorLatched, "split"));
    tokio::time::timeout(BOUND, owner.stop(true)).await.unwrap();
    let on_disk = tunstate::view(&layout, Role::Client).expect("a state file");
    assert_eq!((on_disk.phase, on_disk.last_error), (Phase::Disabled, None));
}

#[tokio::test]
async fn without_tun_on_this_os_the_server_tun_mode_is_latched_too() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), dir.path().join("logs"));
    live(&layout, Role::Server, "tun");
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let owner = spawn_with::<unsupported::Backend>(Role::Server, layout.clone(), bus);
    let v = next_view(&mut events).await;
    assert_eq!(v.phase, Phase::ErrorLatched, "{v:?}");
    assert_eq!(v.last_error.as_deref(), Some(UNSUPPORTED));
    tokio::time::timeout(BOUND, owner.stop(false))
        .await
        .unwrap();
}

#[tokio::test]
async fn without_tun_on_this_os_a_proxy_role_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), dir.path().join("logs"));
    live(&layout, Role::Client, "proxy");
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let owner = spawn_with::<unsupported::Backend>(Role::Client, layout.clone(), bus);
    let v = next_view(&mut events).await;
    assert_eq!((v.phase, v.last_error), (Phase::Disabled, None));
    tokio::time::timeout(BOUND, owner.stop(true)).await.unwrap();
    assert!(!tunstate::state_path(&layout, Role::Client).exists());
}

#[tokio::test]
async fn without_tun_on_this_os_repair_refuses_with_its_own_code() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), dir.path().join("logs"));
    let e = unsupported::repair_offline(&layout).await.unwrap_err();
    assert_eq!(e, TunError::Unsupported);
    assert_eq!(e.code(), "tun_unsupported");
    assert_eq!(e.to_string(), UNSUPPORTED);
}

#[tokio::test]
async fn without_tun_on_this_os_recorded_os_changes_are_refused_by_name_not_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), dir.path().join("logs"));
    let path = tunstate::state_path(&layout, Role::Client);
    let recorded = TunState {
        phase: Phase::FullApplied,
        tun_name: "xp2p0".into(),
        device_created: true,
        ..TunState::default()
    };
    tunstate::save(&path, &recorded).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut b = <unsupported::Backend as OsNetwork>::open(Role::Client, &layout, tx);
    let e = b.restore("service_stop").await.unwrap_err();
    assert!(
        e.contains("tun_unsupported") && e.contains("device xp2p0"),
        "{e}"
    );
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert_eq!(
        tunstate::load(&path).unwrap(),
        Some(recorded),
        "the record is kept"
    );
}
