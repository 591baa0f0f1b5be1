//! The reconciler against an in-memory network that also checks, at every
//! change, that the state file on disk already names what is being added.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use xp2p_core::Role;
use xp2p_store::tunstate::{self, MainRoute, Mode, Phase, Route, Rule, TunState, TunTarget};

use super::super::netops::{Link, NetOps};
use super::Reconciler;

#[derive(Default)]
struct Net {
    links: BTreeMap<String, Link>,
    main: Vec<MainRoute>,
    tables: BTreeMap<u32, Vec<Route>>,
    rules: Vec<Rule>,
    ipv6_blocked: bool,
    /// Fail the first operation whose description contains this.
    fail_on: Option<String>,
    /// Changes made before the state file named them.
    unrecorded: Vec<String>,
    ops: Vec<String>,
}

#[derive(Clone)]
struct FakeNet {
    net: Arc<Mutex<Net>>,
    state_path: PathBuf,
}

impl FakeNet {
    fn with<T>(&self, f: impl FnOnce(&mut Net) -> T) -> T {
        let mut g = self.net.lock().unwrap();
        f(&mut g)
    }

    fn on_disk(&self) -> TunState {
        tunstate::load(&self.state_path)
            .unwrap()
            .unwrap_or_default()
    }

    fn op(&self, what: String, recorded: bool) -> Result<(), String> {
        self.with(|n| {
            if n.fail_on.as_deref().is_some_and(|f| what.contains(f)) {
                n.fail_on = None;
                return Err(format!("injected failure: {what}"));
            }
            if !recorded {
                n.unrecorded.push(what.clone());
            }
            n.ops.push(what);
            Ok(())
        })
    }
}

impl NetOps for FakeNet {
    async fn link(&self, name: &str) -> Result<Option<Link>, String> {
        Ok(self.with(|n| n.links.get(name).cloned()))
    }
    async fn create_tun(&self, name: &str) -> Result<(), String> {
        let s = self.on_disk();
        self.op(
            format!("create {name}"),
            s.device_created && s.tun_name == name,
        )?;
        self.with(|n| {
            n.links.insert(
                name.into(),
                Link {
                    ifindex: 7,
                    up: false,
                    mtu: 1500,
                    addrs: vec![],
                },
            )
        });
        Ok(())
    }
    async fn delete_link(&self, name: &str) -> Result<(), String> {
        self.op(format!("delete {name}"), true)?;
        self.with(|n| {
            n.links.remove(name);
            // Routes on the device go with it.
            for routes in n.tables.values_mut() {
                routes.retain(|r| r.dev != name);
            }
        });
        Ok(())
    }
    async fn configure(&self, name: &str, mtu: u16, addr: IpNet) -> Result<(), String> {
        self.op(format!("configure {name}"), true)?;
        self.with(|n| match n.links.get_mut(name) {
            Some(l) => {
                l.up = true;
                l.mtu = mtu;
                l.addrs = vec![addr];
                Ok(())
            }
            None => Err(format!("no device {name}")),
        })
    }
    async fn main_routes(&self) -> Result<Vec<MainRoute>, String> {
        Ok(self.with(|n| n.main.clone()))
    }
    async fn table_routes(&self, table: u32) -> Result<Vec<Route>, String> {
        Ok(self.with(|n| n.tables.get(&table).cloned().unwrap_or_default()))
    }
    async fn route_replace(&self, table: u32, r: &Route) -> Result<(), String> {
        let s = self.on_disk();
        let recorded = s.routes.contains(r) || s.bypass_routes.contains(r);
        self.op(format!("route add {r}"), recorded)?;
        self.with(|n| {
            let t = n.tables.entry(table).or_default();
            t.retain(|x| x.dst != r.dst);
            t.push(r.clone());
        });
        Ok(())
    }
    async fn route_delete(&self, table: u32, r: &Route) -> Result<(), String> {
        self.op(format!("route del {r}"), true)?;
        self.with(|n| {
            if let Some(t) = n.tables.get_mut(&table) {
                t.retain(|x| x != r);
            }
        });
        Ok(())
    }
    async fn rules(&self) -> Result<Vec<Rule>, String> {
        Ok(self.with(|n| n.rules.clone()))
    }
    async fn rule_add(&self, r: &Rule) -> Result<(), String> {
        let recorded = self.on_disk().rules.contains(r);
        self.op(format!("rule add {r}"), recorded)?;
        self.with(|n| n.rules.push(r.clone()));
        Ok(())
    }
    async fn ipv6_block(&self, _table: u32, _prefs: [u32; 2], block: bool) -> Result<(), String> {
        let recorded = !block || self.on_disk().ipv6_blocked;
        self.op(format!("ipv6 block {block}"), recorded)?;
        self.with(|n| n.ipv6_blocked = block);
        Ok(())
    }

    async fn rule_delete(&self, r: &Rule) -> Result<(), String> {
        self.op(format!("rule del {r}"), true)?;
        self.with(|n| {
            if let Some(i) = n.rules.iter().position(|x| x == r) {
                n.rules.remove(i);
            }
        });
        Ok(())
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    fake: FakeNet,
    resolv: PathBuf,
    rec: Reconciler<FakeNet>,
}

const ORIGINAL: &str = "nameserver 192.0.2.1\noptions edns0\n";

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("xp2p-client.tun-full.json");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, ORIGINAL).unwrap();
    let fake = FakeNet {
        net: Arc::new(Mutex::new(Net {
            main: vec![
                MainRoute {
                    dst: "0.0.0.0/0".parse().unwrap(),
                    gateway: Some("10.0.0.1".parse().unwrap()),
                    dev: "eth0".into(),
                    metric: 0,
                },
                MainRoute {
                    dst: "10.0.0.0/24".parse().unwrap(),
                    gateway: None,
                    dev: "eth0".into(),
                    metric: 0,
                },
            ],
            ..Net::default()
        })),
        state_path: state_path.clone(),
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let rec = Reconciler::new(Role::Client, state_path, resolv.clone(), fake.clone(), tx);
    Rig {
        _dir: dir,
        fake,
        resolv,
        rec,
    }
}

/// Core engine (no bridge): the reconcile logic alone.
fn target(mode: Mode) -> TunTarget {
    TunTarget {
        role: Role::Client,
        mode,
        name: "xp2pc".into(),
        mtu: 1500,
        addr: "198.18.0.1/30".parse().unwrap(),
        socks: None,
        routes: vec!["10.99.0.0/16".parse().unwrap()],
        endpoints: vec!["203.0.113.9".into()],
        dns_servers: vec!["10.99.0.53".parse().unwrap()],
    }
}

impl Rig {
    fn table(&self) -> Vec<String> {
        self.fake.with(|n| {
            n.tables
                .get(&20090)
                .map(|t| t.iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        })
    }
    fn rules(&self) -> Vec<String> {
        self.fake
            .with(|n| n.rules.iter().map(ToString::to_string).collect())
    }
    fn resolv(&self) -> String {
        std::fs::read_to_string(&self.resolv).unwrap()
    }
    fn unrecorded(&self) -> Vec<String> {
        self.fake.with(|n| n.unrecorded.clone())
    }
}

#[tokio::test]
async fn full_mode_records_first_then_routes_rules_and_dns() {
    let mut r = rig();
    let out = r
        .rec
        .reconcile(Some(&target(Mode::Full)), "service_start")
        .await;
    assert_eq!(out.phase, Phase::FullApplied);
    assert_eq!(out.retry_in, None);
    let mut table = r.table();
    table.sort();
    assert_eq!(
        table,
        vec![
            "0.0.0.0/0 dev xp2pc",
            "10.99.0.0/16 dev xp2pc",
            "203.0.113.9/32 via 10.0.0.1 dev eth0"
        ]
    );
    assert_eq!(
        r.rules(),
        vec![
            "pref 20088 lookup main suppress_prefixlength 0",
            "pref 20089 lookup 20090"
        ]
    );
    assert!(r.resolv().contains("nameserver 10.99.0.53"));
    let disk = r.fake.on_disk();
    assert_eq!(disk.phase, Phase::FullApplied);
    assert_eq!(
        disk.dns_backup.as_ref().map(|b| b.resolv_conf.as_str()),
        Some(ORIGINAL)
    );
    assert!(disk.device_created);
    assert_eq!(
        r.unrecorded(),
        Vec::<String>::new(),
        "changed before recording"
    );
    assert!(
        r.fake.with(|n| n.ipv6_blocked),
        "IPv6 must not leave beside the tunnel"
    );
    // The default route goes in after the rest (never a window where it exists alone).
    let ops = r.fake.with(|n| n.ops.clone());
    let pos = |s: &str| ops.iter().position(|o| o.contains(s)).unwrap();
    assert!(pos("route add 0.0.0.0/0") > pos("route add 203.0.113.9"));
    assert!(pos("rule add pref 20089") > pos("rule add pref 20088"));
}

#[tokio::test]
async fn reconciling_again_changes_nothing() {
    let mut r = rig();
    r.rec
        .reconcile(Some(&target(Mode::Full)), "service_start")
        .await;
    let before = r.fake.with(|n| n.ops.len());
    let out = r.rec.reconcile(Some(&target(Mode::Full)), "apply").await;
    assert_eq!(out.phase, Phase::FullApplied);
    let after: Vec<String> = r.fake.with(|n| n.ops[before..].to_vec());
    assert!(
        after
            .iter()
            .all(|o| o.starts_with("configure") || o == "ipv6 block true"),
        "a repeat reconcile must not touch routes or rules: {after:?}"
    );
}

#[tokio::test]
async fn leaving_full_gives_back_dns_and_the_default_route_but_keeps_split() {
    let mut r = rig();
    r.rec
        .reconcile(Some(&target(Mode::Full)), "service_start")
        .await;
    let out = r
        .rec
        .reconcile(Some(&target(Mode::Split)), "mode_switch")
        .await;
    assert_eq!(out.phase, Phase::Split);
    assert_eq!(r.table(), vec!["10.99.0.0/16 dev xp2pc"]);
    assert_eq!(r.rules(), vec!["pref 20089 lookup 20090"]);
    assert_eq!(r.resolv(), ORIGINAL);
    assert!(!r.fake.with(|n| n.ipv6_blocked));
    assert_eq!(r.rec.state.plan, vec!["rollback_full", "ensure_split"]);
    let out = r
        .rec
        .reconcile(Some(&target(Mode::Proxy)), "mode_switch")
        .await;
    assert_eq!(out.phase, Phase::Disabled);
    assert!(r.table().is_empty() && r.rules().is_empty());
    assert!(
        r.fake.with(|n| n.links.is_empty()),
        "the device xp2p created is deleted"
    );
    assert!(!r.fake.on_disk().holds_anything());
}

#[tokio::test]
async fn no_default_route_is_pending_with_backoff_and_touches_nothing() {
    let mut r = rig();
    r.fake.with(|n| n.main.retain(|m| m.dst.prefix_len() != 0));
    let first = r
        .rec
        .reconcile(Some(&target(Mode::Full)), "service_start")
        .await;
    assert_eq!(first.phase, Phase::FullPending);
    assert_eq!(first.retry_in, Some(std::time::Duration::from_secs(2)));
    let second = r.rec.reconcile(Some(&target(Mode::Full)), "retry").await;
    assert_eq!(second.retry_in, Some(std::time::Duration::from_secs(4)));
    let disk = r.fake.on_disk();
    assert_eq!(disk.retry_count, 2);
    assert!(
        disk.pending_reason
            .unwrap_or_default()
            .starts_with("no_default_route")
    );
    assert!(r.rules().is_empty() && r.table().is_empty());
    assert_eq!(r.resolv(), ORIGINAL);
    // The route appears: applied, counters cleared.
    r.fake.with(|n| {
        n.main.push(MainRoute {
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("10.0.0.1".parse().unwrap()),
            dev: "eth0".into(),
            metric: 0,
        })
    });
    let third = r.rec.reconcile(Some(&target(Mode::Full)), "retry").await;
    assert_eq!(third.phase, Phase::FullApplied);
    assert_eq!(r.fake.on_disk().retry_count, 0);
}

#[tokio::test]
async fn a_failed_ensure_full_latches_and_takes_back_what_it_added() {
    let mut r = rig();
    r.fake
        .with(|n| n.fail_on = Some("rule add pref 20089".into()));
    let out = r
        .rec
        .reconcile(Some(&target(Mode::Full)), "service_start")
        .await;
    assert_eq!(out.phase, Phase::ErrorLatched);
    assert_eq!(out.retry_in, None, "a latched error waits for the operator");
    let disk = r.fake.on_disk();
    assert!(
        disk.last_error
            .unwrap_or_default()
            .contains("injected failure")
    );
    assert!(
        !r.table().iter().any(|t| t.starts_with("0.0.0.0/0")),
        "{:?}",
        r.table()
    );
    assert!(
        !r.rules().iter().any(|t| t.contains("suppress")),
        "{:?}",
        r.rules()
    );
    assert_eq!(r.resolv(), ORIGINAL);
    // The next apply tries again and succeeds.
    let again = r.rec.reconcile(Some(&target(Mode::Full)), "apply").await;
    assert_eq!(again.phase, Phase::FullApplied);
    assert_eq!(r.fake.on_disk().last_error, None);
}

#[tokio::test]
async fn a_new_reconciler_restores_what_a_crashed_one_recorded() {
    let mut r = rig();
    r.rec
        .reconcile(Some(&target(Mode::Full)), "service_start")
        .await;
    // The service dies; a fresh reconciler reads the state file and restores.
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut fresh = Reconciler::new(
        Role::Client,
        r.fake.state_path.clone(),
        r.resolv.clone(),
        r.fake.clone(),
        tx,
    );
    assert_eq!(fresh.state.phase, Phase::FullApplied);
    fresh.restore("repair").await.unwrap();
    assert!(r.table().is_empty() && r.rules().is_empty());
    assert_eq!(r.resolv(), ORIGINAL);
    assert!(r.fake.with(|n| n.links.is_empty()));
    assert_eq!(r.fake.on_disk().phase, Phase::Disabled);
}

#[tokio::test]
async fn a_device_the_operator_made_is_configured_but_never_deleted() {
    let mut r = rig();
    r.fake.with(|n| {
        n.links.insert(
            "xp2pc".into(),
            Link {
                ifindex: 3,
                up: true,
                mtu: 1500,
                addrs: vec![],
            },
        )
    });
    r.rec
        .reconcile(Some(&target(Mode::Split)), "service_start")
        .await;
    assert!(!r.fake.on_disk().device_created);
    r.rec.restore("service_stop").await.unwrap();
    assert!(r.fake.with(|n| n.links.contains_key("xp2pc")));
}

#[tokio::test]
async fn proxy_with_nothing_recorded_runs_no_command_and_writes_no_file() {
    let mut r = rig();
    let out = r.rec.reconcile(None, "service_start").await;
    assert_eq!(out.phase, Phase::Disabled);
    assert!(r.fake.with(|n| n.ops.is_empty()));
    assert!(!r.fake.state_path.exists());
}
