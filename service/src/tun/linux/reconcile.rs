//! Reconcile one role's OS network state with what its Live config asks for:
//! the persistent TUN device, the bridge, routes in xp2p's table, the policy
//! rules and the DNS override — and restore the baseline on stop or repair.
//!
//! Every change is first recorded in the state file (fsynced), so a crash at
//! any point leaves a file that names everything that may be present.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use xp2p_core::Role;
use xp2p_store::tunstate::{
    self, Action, DnsBackup, Mode, Phase, Route, Rule, TunState, TunTarget,
};

use super::bridge::{Bridge, BridgeKey};
use super::dns;
use super::netops::NetOps;

/// What a reconcile ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub phase: Phase,
    /// When to try again (the device or bridge was not ready).
    pub retry_in: Option<Duration>,
}

pub struct Reconciler<N: NetOps> {
    pub role: Role,
    pub state_path: PathBuf,
    pub resolv_path: PathBuf,
    pub net: N,
    pub state: TunState,
    bridge: Option<Bridge>,
    /// Told when a bridge ends on its own.
    bridge_exit: tokio::sync::mpsc::UnboundedSender<String>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl<N: NetOps> Reconciler<N> {
    /// Starts from the state file (what an earlier run may have left).
    pub fn new(
        role: Role,
        state_path: PathBuf,
        resolv_path: PathBuf,
        net: N,
        bridge_exit: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Self {
        let state = match tunstate::load(&state_path) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                tracing::error!(%role, "TUN state file unreadable ({e}); starting from an empty record");
                TunState::default()
            }
        };
        Reconciler {
            role,
            state_path,
            resolv_path,
            net,
            state,
            bridge: None,
            bridge_exit,
        }
    }

    /// Records the state (fsynced) unless there is nothing to record and no file.
    fn save(&mut self) -> Result<(), String> {
        self.state.updated_at = now();
        if !self.state.holds_anything()
            && self.state.phase == Phase::Disabled
            && !self.state_path.exists()
        {
            return Ok(());
        }
        tunstate::save(&self.state_path, &self.state)
            .map_err(|e| format!("cannot write {}: {e}", self.state_path.display()))
    }

    /// Brings the OS to `target` (`None`: no Live config, i.e. proxy).
    pub async fn reconcile(&mut self, target: Option<&TunTarget>, reason: &str) -> Outcome {
        let want = target.map_or(Mode::Proxy, |t| t.mode);
        self.state.reason = reason.to_string();
        // A renamed device: the old one (and every route on it) goes first.
        if let Some(t) = target
            && want != Mode::Proxy
            && !self.state.tun_name.is_empty()
            && self.state.tun_name != t.name
        {
            tracing::info!(role = %self.role, old = %self.state.tun_name, new = %t.name, "TUN device renamed");
            if let Err(e) = self.restore("device_renamed").await {
                tracing::warn!(role = %self.role, "{e}");
            }
        }
        let (ready, not_ready) = match (target, want) {
            (Some(t), m) if m != Mode::Proxy => match self.ensure_device(t).await {
                Ok(()) => (true, None),
                Err(e) => (false, Some(e)),
            },
            _ => (false, None),
        };
        // Full mode also needs the way out for the endpoints.
        let mut full_inputs = None;
        let mut not_ready = not_ready;
        if ready
            && want == Mode::Full
            && let Some(t) = target
        {
            match self.full_inputs(t).await {
                Ok(v) => full_inputs = Some(v),
                Err(e) => not_ready = Some(e),
            }
        }
        let ready = ready && not_ready.is_none();
        let (actions, mut phase) = tunstate::plan(&self.state, want, ready);
        self.state.plan = actions.iter().map(|a| a.as_str().to_string()).collect();
        tracing::info!(role = %self.role, reason, plan = ?self.state.plan, "TUN reconcile");
        let mut error = None;
        for action in &actions {
            let res = match (action, target) {
                (Action::RollbackFull, _) => self.rollback_full().await,
                (Action::RemoveSplit, _) => self.restore(reason).await,
                (Action::EnsureSplit, Some(t)) => self.ensure_routes(t, &[]).await,
                (Action::EnsureFull, Some(t)) => match &full_inputs {
                    Some(inputs) => self.ensure_full(t, inputs).await,
                    None => Err("full mode: no bypass plan".into()),
                },
                (_, None) => Ok(()),
            };
            if let Err(e) = res {
                if *action == Action::EnsureFull {
                    // Latch, and take back what this attempt added.
                    if let Err(r) = self.rollback_full().await {
                        tracing::error!(role = %self.role, "rolling back full mode: {r}");
                    }
                }
                error = Some(e);
                phase = Phase::ErrorLatched;
                break;
            }
        }
        self.state.phase = phase;
        self.state.tun_mode = want.as_str().to_string();
        let retry_in = match (&error, &not_ready) {
            (None, Some(reason)) if want != Mode::Proxy => {
                let delay = tunstate::backoff(self.state.retry_count);
                self.state.retry_count = self.state.retry_count.saturating_add(1);
                self.state.pending_reason = Some(reason.clone());
                self.state.next_retry_at = Some(
                    humantime::format_rfc3339_seconds(std::time::SystemTime::now() + delay)
                        .to_string(),
                );
                if phase == Phase::ErrorLatched {
                    self.state.last_error = Some(reason.clone());
                    self.state.last_error_at = Some(now());
                }
                tracing::warn!(role = %self.role, phase = %phase, "TUN not ready ({reason}); retry in {}s", delay.as_secs());
                Some(delay)
            }
            _ => {
                self.state.pending_reason = None;
                self.state.retry_count = 0;
                self.state.next_retry_at = None;
                match &error {
                    Some(e) => {
                        tracing::error!(role = %self.role, "TUN: {e}");
                        self.state.last_error = Some(e.clone());
                        self.state.last_error_at = Some(now());
                    }
                    None => {
                        self.state.last_error = None;
                        self.state.last_error_at = None;
                    }
                }
                None
            }
        };
        if let Err(e) = self.save() {
            tracing::error!(role = %self.role, "{e}");
        }
        Outcome { phase, retry_in }
    }

    /// The device exists with its MTU and address, and (builtin engine) the bridge
    /// is attached. The error is the stable pending reason plus detail.
    async fn ensure_device(&mut self, t: &TunTarget) -> Result<(), String> {
        let existing = self
            .net
            .link(&t.name)
            .await
            .map_err(|e| format!("tun_device_unavailable: {e}"))?;
        // Already as wanted (every reconcile after the first): no `ip` calls.
        let configured = existing.as_ref().is_some_and(|l| {
            l.up && l.mtu == t.mtu && l.addrs.iter().filter(|a| a.addr().is_ipv4()).eq([&t.addr])
        });
        match &existing {
            None => {
                self.state.tun_name = t.name.clone();
                self.state.device_created = true;
                self.save()?;
                self.net
                    .create_tun(&t.name)
                    .await
                    .map_err(|e| format!("tun_device_unavailable: {e}"))?;
            }
            Some(_) if self.state.tun_name.is_empty() => self.state.tun_name = t.name.clone(),
            Some(_) => {}
        }
        if !configured {
            self.net
                .configure(&t.name, t.mtu, t.addr)
                .await
                .map_err(|e| format!("tun_device_unavailable: {e}"))?;
        }
        match existing {
            Some(link) => self.state.ifindex = Some(link.ifindex),
            None => {
                if let Ok(Some(link)) = self.net.link(&t.name).await {
                    self.state.ifindex = Some(link.ifindex);
                }
            }
        }
        match t.socks {
            Some(socks) => {
                let key = BridgeKey {
                    device: t.name.clone(),
                    mtu: t.mtu,
                    socks,
                    dns: t
                        .dns_servers
                        .first()
                        .copied()
                        .unwrap_or(IpAddr::from([8, 8, 8, 8])),
                };
                let keep = self
                    .bridge
                    .as_ref()
                    .is_some_and(|b| b.key == key && !b.finished());
                if !keep {
                    if let Some(old) = self.bridge.take() {
                        old.stop().await;
                    }
                    let b = Bridge::start(key, self.bridge_exit.clone())
                        .map_err(|e| format!("bridge_not_attached: {e}"))?;
                    self.bridge = Some(b);
                }
            }
            None => {
                if let Some(old) = self.bridge.take() {
                    old.stop().await;
                }
            }
        }
        Ok(())
    }

    /// Main's default routes, endpoint IPs and their bypass routes.
    async fn full_inputs(&mut self, t: &TunTarget) -> Result<FullInputs, String> {
        let main = self
            .net
            .main_routes()
            .await
            .map_err(|e| format!("no_default_route: {e}"))?;
        let defaults: Vec<_> = main
            .iter()
            .filter(|r| r.dst.prefix_len() == 0)
            .cloned()
            .collect();
        if defaults.is_empty() {
            return Err("no_default_route: the main table has no default route to keep the endpoints reachable".into());
        }
        let mut ips = Vec::new();
        let mut resolved = std::collections::BTreeMap::new();
        for host in &t.endpoints {
            let found = resolve(host)
                .await
                .map_err(|e| format!("endpoint_unresolved: {host}: {e}"))?;
            resolved.insert(host.clone(), found.clone());
            ips.extend(found);
        }
        let bypass =
            tunstate::bypass_routes(&ips, &main).map_err(|e| format!("no_default_route: {e}"))?;
        Ok(FullInputs {
            defaults,
            bypass,
            resolved,
        })
    }

    /// Routes in xp2p's table become exactly `tun routes ∪ extra`; rules become
    /// exactly the target's. Additions are recorded before they are made.
    async fn ensure_routes(&mut self, t: &TunTarget, extra: &[Route]) -> Result<(), String> {
        let table = tunstate::table(self.role);
        let mut wanted: Vec<Route> = extra.to_vec();
        wanted.extend(t.tun_routes());
        let rules = t.rules();
        self.state.table = table;
        self.state.routes = t.tun_routes();
        for r in &rules {
            if !self.state.rules.contains(r) {
                self.state.rules.push(r.clone());
            }
        }
        self.save()?;
        let current = self.net.table_routes(table).await?;
        // Default route last on the way in, first on the way out.
        for r in current.iter().filter(|r| !wanted.contains(r)) {
            self.net.route_delete(table, r).await?;
        }
        let mut adds: Vec<&Route> = wanted.iter().filter(|r| !current.contains(r)).collect();
        adds.sort_by_key(|r| r.dst.prefix_len() == 0);
        for r in adds {
            self.net.route_replace(table, r).await?;
        }
        self.sync_rules(&rules).await?;
        self.state.rules = rules;
        Ok(())
    }

    /// Rules at xp2p's priorities become exactly `wanted` (suppression first).
    async fn sync_rules(&mut self, wanted: &[Rule]) -> Result<(), String> {
        let prefs = self.prefs();
        let current: Vec<Rule> = self
            .net
            .rules()
            .await?
            .into_iter()
            .filter(|r| prefs.contains(&r.pref))
            .collect();
        for r in current.iter().filter(|r| !wanted.contains(r)) {
            self.net.rule_delete(r).await?;
        }
        for r in wanted.iter().filter(|r| !current.contains(r)) {
            self.net.rule_add(r).await?;
        }
        Ok(())
    }

    async fn ensure_full(&mut self, t: &TunTarget, inputs: &FullInputs) -> Result<(), String> {
        // Record what is about to change, including resolv.conf's bytes.
        self.state.default_routes_backup = inputs.defaults.clone();
        self.state.bypass_routes = inputs.bypass.clone();
        self.state.endpoint_ips = inputs.resolved.clone();
        if !t.dns_servers.is_empty() && self.state.dns_backup.is_none() {
            let original = dns::read(self.resolv_path.clone()).await?;
            self.state.dns_backup = Some(DnsBackup {
                resolv_path: self.resolv_path.display().to_string(),
                resolv_conf: original,
            });
        }
        self.state.ipv6_blocked = true;
        self.save()?;
        self.ensure_routes(t, &inputs.bypass).await?;
        self.net
            .ipv6_block(tunstate::table(self.role), self.prefs(), true)
            .await?;
        if t.dns_servers.is_empty() {
            self.restore_dns().await?;
        } else {
            let text = tunstate::resolv_conf_for(&t.dns_servers, &self.state_path);
            let current = dns::read(self.resolv_path.clone())
                .await
                .unwrap_or_default();
            if current != text {
                dns::write(self.resolv_path.clone(), text).await?;
            }
        }
        self.state.dns_servers = t.dns_servers.iter().map(ToString::to_string).collect();
        Ok(())
    }

    async fn restore_dns(&mut self) -> Result<(), String> {
        if let Some(b) = self.state.dns_backup.clone() {
            dns::write(PathBuf::from(&b.resolv_path), b.resolv_conf).await?;
            self.state.dns_backup = None;
            self.state.dns_servers.clear();
            self.save()?;
        }
        Ok(())
    }

    /// Leaves full mode: default route out of the table first, then the
    /// suppression rule, the bypass routes, and DNS back to its saved bytes.
    async fn rollback_full(&mut self) -> Result<(), String> {
        let table = tunstate::table(self.role);
        let current = self.net.table_routes(table).await?;
        for r in current.iter().filter(|r| r.dst.prefix_len() == 0) {
            self.net.route_delete(table, r).await?;
        }
        for r in self.net.rules().await? {
            if r.pref == tunstate::suppress_pref(self.role) {
                self.net.rule_delete(&r).await?;
            }
        }
        self.state.rules.retain(|r| !r.suppress_default);
        if self.state.ipv6_blocked {
            self.net.ipv6_block(table, self.prefs(), false).await?;
            self.state.ipv6_blocked = false;
        }
        for r in self.state.bypass_routes.clone() {
            self.net.route_delete(table, &r).await?;
        }
        self.state.bypass_routes.clear();
        self.state.default_routes_backup.clear();
        self.state.routes.retain(|r| r.dst.prefix_len() != 0);
        self.save()?;
        self.restore_dns().await?;
        if self.state.phase == Phase::FullApplied {
            self.state.phase = Phase::Split;
        }
        Ok(())
    }

    /// Back to the baseline: bridge stopped, DNS restored, xp2p's rules and
    /// table emptied, a device xp2p created deleted. Best effort: every step
    /// runs; the first error is returned and what failed stays recorded.
    pub async fn restore(&mut self, reason: &str) -> Result<(), String> {
        if let Some(b) = self.bridge.take() {
            b.stop().await;
        }
        if !self.state.holds_anything() && self.state.phase == Phase::Disabled {
            return Ok(());
        }
        tracing::info!(role = %self.role, reason, "TUN: restoring the baseline");
        let mut first_err: Option<String> = None;
        let note = |slot: &mut Option<String>, r: Result<(), String>| {
            if let Err(e) = r
                && slot.is_none()
            {
                *slot = Some(e);
            }
        };
        note(&mut first_err, self.rollback_full().await);
        let table = tunstate::table(self.role);
        let prefs = self.prefs();
        match self.net.rules().await {
            Ok(rules) => {
                for r in rules.iter().filter(|r| prefs.contains(&r.pref)) {
                    note(&mut first_err, self.net.rule_delete(r).await);
                }
            }
            Err(e) => note(&mut first_err, Err(e)),
        }
        match self.net.table_routes(table).await {
            Ok(routes) => {
                for r in &routes {
                    note(&mut first_err, self.net.route_delete(table, r).await);
                }
            }
            Err(e) => note(&mut first_err, Err(e)),
        }
        if self.state.device_created && !self.state.tun_name.is_empty() {
            note(
                &mut first_err,
                self.net.delete_link(&self.state.tun_name).await,
            );
        }
        if first_err.is_none() {
            let keep = std::mem::take(&mut self.state);
            self.state = TunState {
                reason: reason.to_string(),
                plan: keep.plan,
                ..TunState::default()
            };
        }
        self.state.reason = reason.to_string();
        note(&mut first_err, self.save());
        match first_err {
            Some(e) => Err(format!("restoring the {} baseline: {e}", self.role)),
            None => Ok(()),
        }
    }

    fn prefs(&self) -> [u32; 2] {
        [
            tunstate::suppress_pref(self.role),
            tunstate::lookup_pref(self.role),
        ]
    }

    /// Stops the bridge without touching anything else (`--keep-cores` stop).
    pub async fn detach(&mut self) {
        if let Some(b) = self.bridge.take() {
            b.stop().await;
        }
    }
}

struct FullInputs {
    defaults: Vec<tunstate::MainRoute>,
    bypass: Vec<Route>,
    resolved: std::collections::BTreeMap<String, Vec<IpAddr>>,
}

/// An endpoint address: an IP as is, a name through the resolver (IPv4 first).
async fn resolve(host: &str) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let found = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| e.to_string())?;
    let mut ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
    ips.sort_by_key(|ip| !ip.is_ipv4());
    ips.dedup();
    if ips.is_empty() {
        return Err("no address".into());
    }
    Ok(ips)
}

#[cfg(test)]
mod tests;
