//! The one small seam between the service and the OS network stack: the
//! [`NetOps`] trait (links, addresses, routes in xp2p's table, rules) and its
//! Linux implementation over iproute2 (`ip -j …`, run as a child process, never
//! blocking a runtime thread). Tests of the reconcile logic use a fake.

use std::future::Future;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use xp2p_store::tunstate::{MainRoute, Route, Rule};

/// A network link as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub up: bool,
    pub mtu: u16,
    pub addrs: Vec<IpNet>,
}

/// Operations the reconciler needs. Every error is one line naming the command.
pub trait NetOps: Send + Sync {
    fn link(&self, name: &str) -> impl Future<Output = Result<Option<Link>, String>> + Send;
    fn create_tun(&self, name: &str) -> impl Future<Output = Result<(), String>> + Send;
    fn delete_link(&self, name: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Sets the MTU, brings the link up and makes `addr` its only address.
    fn configure(
        &self,
        name: &str,
        mtu: u16,
        addr: IpNet,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// IPv4 routes of the main table.
    fn main_routes(&self) -> impl Future<Output = Result<Vec<MainRoute>, String>> + Send;
    /// IPv4 routes of `table` (empty when the table does not exist).
    fn table_routes(&self, table: u32) -> impl Future<Output = Result<Vec<Route>, String>> + Send;
    fn route_replace(
        &self,
        table: u32,
        r: &Route,
    ) -> impl Future<Output = Result<(), String>> + Send;
    fn route_delete(
        &self,
        table: u32,
        r: &Route,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// IPv4 rules.
    fn rules(&self) -> impl Future<Output = Result<Vec<Rule>, String>> + Send;
    fn rule_add(&self, r: &Rule) -> impl Future<Output = Result<(), String>> + Send;
    fn rule_delete(&self, r: &Rule) -> impl Future<Output = Result<(), String>> + Send;
    /// IPv6 in full mode: `block` adds the suppression and lookup rules at
    /// `prefs` and an `unreachable default` in `table`; `!block` removes them.
    /// Idempotent both ways; a host without IPv6 is a no-op.
    fn ipv6_block(
        &self,
        table: u32,
        prefs: [u32; 2],
        block: bool,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// [`NetOps`] over the `ip` command of iproute2.
#[derive(Debug, Clone, Default)]
pub struct IpCommand;

async fn ip(args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("ip {}: cannot run iproute2's `ip`: {e}", args.join(" ")))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "ip {}: {}",
        args.join(" "),
        err.lines().next().unwrap_or("failed").trim()
    ))
}

fn parse_json<T: serde::de::DeserializeOwned>(cmd: &str, text: &str) -> Result<Vec<T>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| format!("{cmd}: unexpected output: {e}"))
}

#[derive(Deserialize)]
struct JsonLink {
    ifindex: u32,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    mtu: u32,
    #[serde(default)]
    addr_info: Vec<JsonAddr>,
}

#[derive(Deserialize)]
struct JsonAddr {
    #[serde(default)]
    local: Option<IpAddr>,
    #[serde(default)]
    prefixlen: u8,
}

#[derive(Deserialize)]
struct JsonRoute {
    dst: String,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default)]
    dev: Option<String>,
    #[serde(default)]
    metric: u32,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct JsonRule {
    priority: u32,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    suppress_prefixlen: Option<u32>,
}

fn dst_of(s: &str) -> Option<IpNet> {
    if s == "default" {
        return Some(IpNet::V4(ipnet::Ipv4Net::default()));
    }
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Unicast routes with a device (blackhole/unreachable/etc. are skipped).
fn routes_of(cmd: &str, text: &str) -> Result<Vec<MainRoute>, String> {
    let rows: Vec<JsonRoute> = parse_json(cmd, text)?;
    Ok(rows
        .into_iter()
        .filter(|r| r.kind.as_deref().is_none_or(|k| k == "unicast"))
        .filter_map(|r| {
            Some(MainRoute {
                dst: dst_of(&r.dst)?,
                gateway: r.gateway,
                dev: r.dev?,
                metric: r.metric,
            })
        })
        .collect())
}

fn route_args(table: u32, r: &Route) -> Vec<String> {
    let mut a = vec![r.dst.to_string()];
    if let Some(v) = r.via {
        a.push("via".into());
        a.push(v.to_string());
    }
    a.extend([
        "dev".into(),
        r.dev.clone(),
        "table".into(),
        table.to_string(),
    ]);
    a
}

fn rule_args(r: &Rule) -> Vec<String> {
    let mut a = vec![
        "pref".into(),
        r.pref.to_string(),
        "lookup".into(),
        r.table.clone(),
    ];
    if r.suppress_default {
        a.extend(["suppress_prefixlength".into(), "0".into()]);
    }
    a
}

async fn ip_owned(args: Vec<String>) -> Result<String, String> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ip(&refs).await
}

impl NetOps for IpCommand {
    async fn link(&self, name: &str) -> Result<Option<Link>, String> {
        let text = match ip(&["-j", "addr", "show", "dev", name]).await {
            Ok(t) => t,
            Err(e) if e.contains("does not exist") => return Ok(None),
            Err(e) => return Err(e),
        };
        let rows: Vec<JsonLink> = parse_json("ip -j addr show", &text)?;
        Ok(rows.into_iter().next().map(|l| Link {
            ifindex: l.ifindex,
            up: l.flags.iter().any(|f| f == "UP"),
            mtu: u16::try_from(l.mtu).unwrap_or(u16::MAX),
            addrs: l
                .addr_info
                .iter()
                .filter_map(|a| IpNet::new(a.local?, a.prefixlen).ok())
                .collect(),
        }))
    }

    async fn create_tun(&self, name: &str) -> Result<(), String> {
        ip(&["tuntap", "add", "mode", "tun", "dev", name])
            .await
            .map(|_| ())
    }

    async fn delete_link(&self, name: &str) -> Result<(), String> {
        match ip(&["link", "delete", "dev", name]).await {
            Err(e) if e.contains("Cannot find device") || e.contains("does not exist") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn configure(&self, name: &str, mtu: u16, addr: IpNet) -> Result<(), String> {
        let mtu = mtu.to_string();
        ip(&["link", "set", "dev", name, "mtu", &mtu, "up"]).await?;
        if let Some(link) = self.link(name).await? {
            for old in link
                .addrs
                .iter()
                .filter(|a| **a != addr && a.addr().is_ipv4())
            {
                ip(&["addr", "del", &old.to_string(), "dev", name]).await?;
            }
        }
        ip(&["addr", "replace", &addr.to_string(), "dev", name])
            .await
            .map(|_| ())
    }

    async fn main_routes(&self) -> Result<Vec<MainRoute>, String> {
        let text = ip(&["-j", "-4", "route", "show", "table", "main"]).await?;
        routes_of("ip -j -4 route show table main", &text)
    }

    async fn table_routes(&self, table: u32) -> Result<Vec<Route>, String> {
        let t = table.to_string();
        let text = match ip(&["-j", "-4", "route", "show", "table", &t]).await {
            Ok(t) => t,
            Err(e) if e.contains("does not exist") => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(routes_of("ip -j -4 route show table", &text)?
            .into_iter()
            .map(|r| Route {
                dst: r.dst,
                via: r.gateway,
                dev: r.dev,
            })
            .collect())
    }

    async fn route_replace(&self, table: u32, r: &Route) -> Result<(), String> {
        let mut a = vec!["route".to_string(), "replace".into()];
        a.extend(route_args(table, r));
        ip_owned(a).await.map(|_| ())
    }

    async fn route_delete(&self, table: u32, r: &Route) -> Result<(), String> {
        let mut a = vec!["route".to_string(), "delete".into()];
        a.extend(route_args(table, r));
        match ip_owned(a).await {
            // Already gone (its device was deleted, or an earlier run removed it).
            Err(e) if e.contains("No such process") || e.contains("Cannot find device") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn rules(&self) -> Result<Vec<Rule>, String> {
        let text = ip(&["-j", "-4", "rule", "show"]).await?;
        let rows: Vec<JsonRule> = parse_json("ip -j -4 rule show", &text)?;
        Ok(rows
            .into_iter()
            .map(|r| Rule {
                pref: r.priority,
                table: r.table.unwrap_or_default(),
                suppress_default: r.suppress_prefixlen == Some(0),
            })
            .collect())
    }

    async fn rule_add(&self, r: &Rule) -> Result<(), String> {
        let mut a = vec!["-4".to_string(), "rule".into(), "add".into()];
        a.extend(rule_args(r));
        ip_owned(a).await.map(|_| ())
    }

    async fn ipv6_block(&self, table: u32, prefs: [u32; 2], block: bool) -> Result<(), String> {
        if !ipv6_enabled() {
            return Ok(());
        }
        let t = table.to_string();
        let (suppress, lookup) = (prefs[0].to_string(), prefs[1].to_string());
        let text = ip(&["-j", "-6", "rule", "show"]).await?;
        let rules: Vec<JsonRule> = parse_json("ip -j -6 rule show", &text)?;
        let has = |pref: u32| rules.iter().any(|r| r.priority == pref);
        if block {
            match ip(&[
                "-6",
                "route",
                "replace",
                "unreachable",
                "default",
                "table",
                &t,
            ])
            .await
            {
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if !has(prefs[0]) {
                ip(&[
                    "-6",
                    "rule",
                    "add",
                    "pref",
                    &suppress,
                    "lookup",
                    "main",
                    "suppress_prefixlength",
                    "0",
                ])
                .await?;
            }
            if !has(prefs[1]) {
                ip(&["-6", "rule", "add", "pref", &lookup, "lookup", &t]).await?;
            }
        } else {
            for pref in prefs.iter().filter(|p| has(**p)) {
                ip(&["-6", "rule", "delete", "pref", &pref.to_string()]).await?;
            }
            match ip(&["-6", "route", "flush", "table", &t]).await {
                Err(e) if !e.contains("does not exist") => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    async fn rule_delete(&self, r: &Rule) -> Result<(), String> {
        let mut a = vec!["-4".to_string(), "rule".into(), "delete".into()];
        a.extend(rule_args(r));
        match ip_owned(a).await {
            Err(e) if e.contains("No such file") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

/// IPv6 is on in this network namespace.
fn ipv6_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .is_ok_and(|v| v.trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_defaults_hosts_and_skip_non_unicast() {
        let text = r#"[{"dst":"default","gateway":"10.231.9.2","dev":"v0","metric":100},
            {"dst":"10.1.2.3","gateway":"198.18.0.2","dev":"xp2pc","flags":["linkdown"]},
            {"type":"blackhole","dst":"10.9.0.0/16","flags":[]},
            {"type":"unreachable","dst":"10.8.0.0/16","dev":"lo"}]"#;
        let r = routes_of("t", text).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].dst.to_string(), "0.0.0.0/0");
        assert_eq!(r[0].metric, 100);
        assert_eq!(r[1].dst.to_string(), "10.1.2.3/32");
        assert!(routes_of("t", "").unwrap().is_empty());
        assert!(
            routes_of("t", "[")
                .unwrap_err()
                .starts_with("t: unexpected output")
        );
    }

    #[test]
    fn rule_and_route_arguments_round_trip_what_ip_prints() {
        let rule = Rule {
            pref: 20088,
            table: "main".into(),
            suppress_default: true,
        };
        assert_eq!(
            rule_args(&rule).join(" "),
            "pref 20088 lookup main suppress_prefixlength 0"
        );
        let route = Route {
            dst: "10.77.0.1/32".parse().unwrap(),
            via: Some("10.231.9.2".parse().unwrap()),
            dev: "v0".into(),
        };
        assert_eq!(
            route_args(20090, &route).join(" "),
            "10.77.0.1/32 via 10.231.9.2 dev v0 table 20090"
        );
        let rows: Vec<JsonRule> = parse_json(
            "r",
            r#"[{"priority":20088,"src":"all","table":"main","suppress_prefixlen":0},{"priority":0,"src":"all","table":"local"}]"#,
        )
        .unwrap();
        assert_eq!(rows[0].suppress_prefixlen, Some(0));
        assert_eq!(rows[1].table.as_deref(), Some("local"));
    }
}
