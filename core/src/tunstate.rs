//! The OS network state the service owns for one role (TUN device, policy
//! rules, routes in xp2p's own table, DNS override): the state file
//! (`xp2p-client.tun-full.json`, `xp2p-server.tun.json`), the target a Live
//! config asks for ([`TunTarget`]), and the pure parts of planning a reconcile
//! (the action table of os-network.md, route matching, retry backoff).
//!
//! xp2p never edits the main routing table: everything it adds lives in its own
//! table (20090 client, 20091 server) behind two `ip rule`s, so restoring the
//! baseline is "delete what the state file lists", not "rebuild what was there".

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::compile::runtime::RuntimeInfo;
use crate::role::Role;

/// Policy routing table of a role (`ip route … table N`).
pub fn table(role: Role) -> u32 {
    match role {
        Role::Client => 20090,
        Role::Server => 20091,
    }
}

/// `ip rule` priority of "look up main, but not its default route" (full mode:
/// the LAN and every more specific main route keep working).
pub fn suppress_pref(role: Role) -> u32 {
    table(role) - 2
}

/// `ip rule` priority of "look up xp2p's table".
pub fn lookup_pref(role: Role) -> u32 {
    table(role) - 1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Disabled,
    Split,
    FullPending,
    FullApplied,
    ErrorLatched,
    /// Server: TUN mode applied (device, bridge, routes for its CIDR redirects).
    Tun,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Disabled => "disabled",
            Phase::Split => "split",
            Phase::FullPending => "full_pending",
            Phase::FullApplied => "full_applied",
            Phase::ErrorLatched => "error_latched",
            Phase::Tun => "tun",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A route in xp2p's table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    pub dev: String,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.dst)?;
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        write!(f, " dev {}", self.dev)
    }
}

/// An `ip rule` xp2p adds: `pref P lookup TABLE [suppress_prefixlength 0]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    pub pref: u32,
    /// `main` or a table number.
    pub table: String,
    #[serde(default)]
    pub suppress_default: bool,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pref {} lookup {}", self.pref, self.table)?;
        if self.suppress_default {
            f.write_str(" suppress_prefixlength 0")?;
        }
        Ok(())
    }
}

/// A route of the main table as read (for the original gateway of an endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MainRoute {
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    pub dev: String,
    #[serde(default)]
    pub metric: u32,
}

/// What resolv.conf held before xp2p replaced it, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsBackup {
    pub resolv_path: String,
    pub resolv_conf: String,
}

/// The state file. Written (fsynced) before every OS change, naming what is
/// about to be added, so a crash can always be undone from it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TunState {
    pub phase: Phase,
    pub tun_name: String,
    /// `proxy`, `split`, `full` or `tun` (server): the mode last reconciled to.
    pub tun_mode: String,
    pub table: u32,
    pub ifindex: Option<u32>,
    /// xp2p created the device (a restore deletes it); a device the operator
    /// made is left in place.
    pub device_created: bool,
    /// Rules xp2p added or is about to add.
    pub rules: Vec<Rule>,
    /// Routes xp2p added or is about to add to its table (TUN routes).
    pub routes: Vec<Route>,
    /// Main's default routes when full mode was entered (main is never changed).
    pub default_routes_backup: Vec<MainRoute>,
    /// Endpoint bypass routes in xp2p's table (full mode).
    pub bypass_routes: Vec<Route>,
    pub dns_backup: Option<DnsBackup>,
    pub dns_servers: Vec<String>,
    /// Full mode blocks IPv6 outside the LAN (the bridge carries IPv4 only, so
    /// IPv6 would otherwise leave beside the tunnel): xp2p's IPv6 rules and an
    /// `unreachable default` in its IPv6 table.
    pub ipv6_blocked: bool,
    /// Endpoint address (as configured) → the IPs it resolved to.
    pub endpoint_ips: BTreeMap<String, Vec<IpAddr>>,
    /// The actions of the last reconcile and why it ran.
    pub plan: Vec<String>,
    pub reason: String,
    pub pending_reason: Option<String>,
    pub retry_count: u32,
    pub next_retry_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub updated_at: String,
}

impl TunState {
    /// True when anything recorded may still be present in the OS.
    pub fn holds_anything(&self) -> bool {
        self.device_created
            || !self.rules.is_empty()
            || !self.routes.is_empty()
            || !self.bypass_routes.is_empty()
            || self.dns_backup.is_some()
            || self.ipv6_blocked
    }

    /// Full-mode pieces are recorded (rules with the default suppression, bypass
    /// routes, a DNS backup): leaving full must roll them back.
    pub fn full_recorded(&self) -> bool {
        self.phase == Phase::FullApplied
            || self.dns_backup.is_some()
            || !self.bypass_routes.is_empty()
            || self.rules.iter().any(|r| r.suppress_default)
            || self.ipv6_blocked
    }
}

/// What status, the IPC snapshot and `tun.phase` events show of a role's TUN.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TunView {
    pub phase: Phase,
    pub mode: String,
    pub device: String,
    pub pending_reason: Option<String>,
    pub retry_count: u32,
    pub next_retry_at: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: String,
}

impl From<&TunState> for TunView {
    fn from(s: &TunState) -> Self {
        TunView {
            phase: s.phase,
            mode: s.tun_mode.clone(),
            device: s.tun_name.clone(),
            pending_reason: s.pending_reason.clone(),
            retry_count: s.retry_count,
            next_retry_at: s.next_retry_at.clone(),
            last_error: s.last_error.clone(),
            updated_at: s.updated_at.clone(),
        }
    }
}

impl TunView {
    /// One line for status and the console: the phase, then why it is not
    /// applied (pending reason and next retry, or the latched error).
    pub fn summary(&self) -> String {
        let mut out = self.phase.to_string();
        if !self.device.is_empty() && self.phase != Phase::Disabled {
            out.push_str(&format!(" on {}", self.device));
        }
        if let Some(r) = &self.pending_reason {
            out.push_str(&format!(" — {r}"));
            if let Some(at) = &self.next_retry_at {
                out.push_str(&format!(" (retry {} at {at})", self.retry_count));
            }
        } else if let Some(e) = &self.last_error {
            out.push_str(&format!(" — {e}"));
        }
        out
    }
}

/// Path of a role's state file.
pub fn state_path(layout: &crate::Layout, role: Role) -> std::path::PathBuf {
    match role {
        Role::Client => layout.tun_full_state(),
        Role::Server => layout.root().join("xp2p-server.tun.json"),
    }
}

/// The mode a Live config asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Proxy,
    Split,
    Full,
    /// Server TUN mode.
    Tun,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Proxy => "proxy",
            Mode::Split => "split",
            Mode::Full => "full",
            Mode::Tun => "tun",
        }
    }
}

/// What one role's Live config asks of the OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunTarget {
    pub role: Role,
    pub mode: Mode,
    pub name: String,
    pub mtu: u16,
    pub addr: IpNet,
    /// The bridge's SOCKS upstream; `None` when the core carries TUN itself.
    pub socks: Option<SocketAddr>,
    pub routes: Vec<IpNet>,
    /// Endpoint addresses as configured (IPs or names), full mode bypasses them.
    pub endpoints: Vec<String>,
    pub dns_servers: Vec<IpAddr>,
}

impl TunTarget {
    /// The target of `rt` (Live's runtime.json). One line naming the field on error.
    pub fn from_runtime(rt: &RuntimeInfo) -> Result<TunTarget, String> {
        let t = &rt.tun;
        let mode = match (t.enabled, t.mode.as_str()) {
            (false, _) | (true, "proxy") => Mode::Proxy,
            (true, "split") => Mode::Split,
            (true, "full") => Mode::Full,
            (true, "tun") => Mode::Tun,
            (true, other) => return Err(format!("runtime.json tun.mode: unknown mode `{other}`")),
        };
        let addr: IpNet = t
            .addr
            .parse()
            .map_err(|e| format!("runtime.json tun.addr `{}`: {e}", t.addr))?;
        let socks = match &t.socks {
            Some(s) => Some(
                s.parse()
                    .map_err(|e| format!("runtime.json tun.socks `{s}`: {e}"))?,
            ),
            None => None,
        };
        let mut routes = Vec::new();
        for r in &t.routes {
            routes.push(
                r.parse::<IpNet>()
                    .map_err(|e| format!("runtime.json tun.routes `{r}`: {e}"))?,
            );
        }
        let mut dns_servers = Vec::new();
        for d in &t.dns_servers {
            dns_servers.push(
                d.parse::<IpAddr>()
                    .map_err(|e| format!("runtime.json tun.dns_servers `{d}`: {e}"))?,
            );
        }
        Ok(TunTarget {
            role: rt.role,
            mode,
            name: t.name.clone(),
            mtu: t.mtu,
            addr,
            socks,
            routes,
            endpoints: rt.endpoints.iter().map(|e| e.address.clone()).collect(),
            dns_servers,
        })
    }

    /// The routes this target puts into xp2p's table through the device:
    /// the CIDR routes, and in full mode the IPv4 default route.
    pub fn tun_routes(&self) -> Vec<Route> {
        let mut out: Vec<Route> = self
            .routes
            .iter()
            .filter(|n| matches!(n, IpNet::V4(_)))
            .map(|dst| Route {
                dst: *dst,
                via: None,
                dev: self.name.clone(),
            })
            .collect();
        if self.mode == Mode::Full {
            out.push(Route {
                dst: IpNet::V4(ipnet::Ipv4Net::default()),
                via: None,
                dev: self.name.clone(),
            });
        }
        out.sort();
        out.dedup();
        out
    }

    /// The rules this target needs.
    pub fn rules(&self) -> Vec<Rule> {
        let role = self.role;
        let mut out = Vec::new();
        if self.mode == Mode::Proxy {
            return out;
        }
        if self.mode == Mode::Full {
            out.push(Rule {
                pref: suppress_pref(role),
                table: "main".into(),
                suppress_default: true,
            });
        }
        out.push(Rule {
            pref: lookup_pref(role),
            table: table(role).to_string(),
            suppress_default: false,
        });
        out
    }
}

/// One step of a reconcile (os-network.md's plan table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    RollbackFull,
    RemoveSplit,
    EnsureFull,
    EnsureSplit,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RollbackFull => "rollback_full",
            Action::RemoveSplit => "remove_split",
            Action::EnsureFull => "ensure_full",
            Action::EnsureSplit => "ensure_split",
        }
    }
}

/// Plans a reconcile from what the state file holds, the mode wanted and
/// whether the device (and its bridge) is ready. Returns the actions in order
/// and the phase they lead to.
pub fn plan(state: &TunState, want: Mode, ready: bool) -> (Vec<Action>, Phase) {
    let mut actions = Vec::new();
    if state.full_recorded() && want != Mode::Full {
        actions.push(Action::RollbackFull);
    }
    if want == Mode::Proxy {
        actions.push(Action::RemoveSplit);
        return (actions, Phase::Disabled);
    }
    if !ready {
        return (
            actions,
            match want {
                Mode::Full => Phase::FullPending,
                _ => Phase::ErrorLatched,
            },
        );
    }
    match want {
        Mode::Full => {
            actions.push(Action::EnsureFull);
            (actions, Phase::FullApplied)
        }
        Mode::Tun => {
            actions.push(Action::EnsureSplit);
            (actions, Phase::Tun)
        }
        _ => {
            actions.push(Action::EnsureSplit);
            (actions, Phase::Split)
        }
    }
}

/// Retry delay after `retries` failed attempts: 2 s, 4 s, 8 s … capped at 30 s.
pub fn backoff(retries: u32) -> Duration {
    let secs = 2u64.saturating_pow(retries.saturating_add(1).min(16));
    Duration::from_secs(secs.min(30))
}

/// The main-table route a packet to `ip` would take: longest prefix, then
/// lowest metric. xp2p's bypass routes copy its gateway and device.
pub fn route_for(ip: IpAddr, main: &[MainRoute]) -> Option<&MainRoute> {
    main.iter().filter(|r| r.dst.contains(&ip)).max_by(|a, b| {
        a.dst
            .prefix_len()
            .cmp(&b.dst.prefix_len())
            .then(b.metric.cmp(&a.metric))
    })
}

/// Bypass routes for endpoint IPs (IPv4) through the way main would send them.
/// Errors name the first IP with no route.
pub fn bypass_routes(ips: &[IpAddr], main: &[MainRoute]) -> Result<Vec<Route>, String> {
    let mut out = Vec::new();
    for ip in ips.iter().filter(|i| i.is_ipv4()) {
        let Some(r) = route_for(*ip, main) else {
            return Err(format!("no route to endpoint {ip} in the main table"));
        };
        out.push(Route {
            dst: IpNet::from(*ip),
            via: r.gateway,
            dev: r.dev.clone(),
        });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The resolv.conf xp2p writes in full mode.
pub fn resolv_conf_for(servers: &[IpAddr], state_file: &Path) -> String {
    let mut s = format!(
        "# Written by xp2p (full tunnel). The original is kept in {}\n# and comes back when full mode ends or on `xp2p repair`.\n",
        state_file.display()
    );
    for d in servers {
        s.push_str(&format!("nameserver {d}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn target(mode: Mode) -> TunTarget {
        TunTarget {
            role: Role::Client,
            mode,
            name: "xp2pc".into(),
            mtu: 1500,
            addr: net("198.18.0.1/30"),
            socks: Some("127.0.0.1:51180".parse().unwrap()),
            routes: vec![net("10.99.0.0/16"), net("fd00::/8"), net("10.99.0.0/16")],
            endpoints: vec!["10.77.0.1".into()],
            dns_servers: vec![],
        }
    }

    #[test]
    fn plan_follows_the_action_table() {
        let empty = TunState::default();
        let full = TunState {
            phase: Phase::FullApplied,
            ..TunState::default()
        };
        use Action::*;
        assert_eq!(
            plan(&empty, Mode::Proxy, true),
            (vec![RemoveSplit], Phase::Disabled)
        );
        assert_eq!(
            plan(&empty, Mode::Split, true),
            (vec![EnsureSplit], Phase::Split)
        );
        assert_eq!(
            plan(&empty, Mode::Full, true),
            (vec![EnsureFull], Phase::FullApplied)
        );
        assert_eq!(
            plan(&empty, Mode::Full, false),
            (vec![], Phase::FullPending)
        );
        assert_eq!(
            plan(&empty, Mode::Tun, true),
            (vec![EnsureSplit], Phase::Tun)
        );
        assert_eq!(
            plan(&full, Mode::Split, true),
            (vec![RollbackFull, EnsureSplit], Phase::Split)
        );
        assert_eq!(
            plan(&full, Mode::Proxy, true),
            (vec![RollbackFull, RemoveSplit], Phase::Disabled)
        );
        // Full stays full: no rollback, even when the device is not ready.
        assert_eq!(plan(&full, Mode::Full, false), (vec![], Phase::FullPending));
        assert_eq!(
            plan(&full, Mode::Full, true),
            (vec![EnsureFull], Phase::FullApplied)
        );
        // A crash mid-way through ensure_full left only a DNS backup: still rolled back.
        let torn = TunState {
            phase: Phase::Split,
            dns_backup: Some(DnsBackup {
                resolv_path: "/etc/resolv.conf".into(),
                resolv_conf: "nameserver 1.1.1.1\n".into(),
            }),
            ..TunState::default()
        };
        assert_eq!(
            plan(&torn, Mode::Split, true).0,
            vec![RollbackFull, EnsureSplit]
        );
    }

    #[test]
    fn the_summary_says_why_full_mode_is_not_applied() {
        let mut v = TunView {
            phase: Phase::FullPending,
            device: "xp2pc".into(),
            pending_reason: Some("no_default_route: none".into()),
            retry_count: 3,
            next_retry_at: Some("2026-11-22T10:00:08Z".into()),
            ..TunView::default()
        };
        assert_eq!(
            v.summary(),
            "full_pending on xp2pc — no_default_route: none (retry 3 at 2026-11-22T10:00:08Z)"
        );
        v = TunView::default();
        assert_eq!(v.summary(), "disabled");
    }

    #[test]
    fn backoff_doubles_from_two_seconds_to_a_thirty_second_cap() {
        let secs: Vec<u64> = (0..7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(u32::MAX).as_secs(), 30);
    }

    #[test]
    fn tun_routes_are_ipv4_deduplicated_and_full_adds_the_default() {
        let split = target(Mode::Split).tun_routes();
        assert_eq!(split.len(), 1);
        assert_eq!(split[0].to_string(), "10.99.0.0/16 dev xp2pc");
        let full = target(Mode::Full).tun_routes();
        assert!(full.iter().any(|r| r.dst == net("0.0.0.0/0")));
        assert!(target(Mode::Proxy).rules().is_empty());
        let rules = target(Mode::Full).rules();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[0].to_string(),
            "pref 20088 lookup main suppress_prefixlength 0"
        );
        assert_eq!(rules[1].to_string(), "pref 20089 lookup 20090");
        assert_eq!(target(Mode::Split).rules().len(), 1);
    }

    #[test]
    fn bypass_copies_the_longest_matching_main_route() {
        let main = vec![
            MainRoute {
                dst: net("0.0.0.0/0"),
                gateway: Some("10.231.9.2".parse().unwrap()),
                dev: "veth0".into(),
                metric: 100,
            },
            MainRoute {
                dst: net("0.0.0.0/0"),
                gateway: Some("10.231.8.2".parse().unwrap()),
                dev: "wlan0".into(),
                metric: 600,
            },
            MainRoute {
                dst: net("10.231.9.0/24"),
                gateway: None,
                dev: "veth0".into(),
                metric: 0,
            },
        ];
        let ips: Vec<IpAddr> = vec![
            "10.77.0.1".parse().unwrap(),
            "10.231.9.7".parse().unwrap(),
            "::1".parse().unwrap(),
        ];
        let b = bypass_routes(&ips, &main).unwrap();
        let text: Vec<String> = b.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec![
                "10.77.0.1/32 via 10.231.9.2 dev veth0",
                "10.231.9.7/32 dev veth0"
            ]
        );
        let err = bypass_routes(&ips[..1], &main[2..]).unwrap_err();
        assert!(err.contains("10.77.0.1"), "{err}");
    }
}
