//! Redirects of either role (`[[client.redirects]]`, `[[server.redirects]]`):
//! add a CIDR or domain via an outbound tag, remove one.

use super::doc;
use super::{EditError, State};
use crate::desired::Cidr;
use crate::desired::model::Redirect;
use crate::desired::names::is_domain_matcher;
use crate::role::Role;

/// What a redirect matches. Build it with [`RedirectTarget::cidr`] or
/// [`RedirectTarget::domain`], which refuse a malformed value (usage errors).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectTarget {
    Cidr(Cidr),
    Domain(String),
}

impl RedirectTarget {
    /// `--cidr` value: `10.20.0.0/16` (a prefix length is required).
    pub fn cidr(s: &str) -> Result<RedirectTarget, EditError> {
        let t = s.trim();
        t.contains('/')
            .then(|| t.parse::<ipnet::IpNet>().ok())
            .flatten()
            .map(|n| RedirectTarget::Cidr(Cidr(n)))
            .ok_or_else(|| {
                EditError::usage(
                    "--cidr",
                    format!("\"{s}\" is not a CIDR (like 10.20.0.0/16)"),
                )
            })
    }

    /// `--domain` value: a host name, or a `full:`/`domain:`/`keyword:`/`regexp:`
    /// matcher.
    pub fn domain(s: &str) -> Result<RedirectTarget, EditError> {
        let t = s.trim();
        if is_domain_matcher(t) {
            Ok(RedirectTarget::Domain(t.to_string()))
        } else {
            Err(EditError::usage(
                "--domain",
                format!("\"{s}\" is not a domain"),
            ))
        }
    }

    /// The comparable form the validator uses for duplicates.
    fn key(&self) -> String {
        match self {
            RedirectTarget::Cidr(c) => c.0.trunc().to_string(),
            RedirectTarget::Domain(d) => domain_key(d),
        }
    }
}

fn domain_key(d: &str) -> String {
    let d = d.to_ascii_lowercase();
    d.strip_prefix("domain:").map(str::to_string).unwrap_or(d)
}

fn redirect_key(r: &Redirect) -> Option<String> {
    match (&r.cidr, &r.domain) {
        (Some(c), None) => Some(c.0.trunc().to_string()),
        (None, Some(d)) => Some(domain_key(d)),
        _ => None,
    }
}

/// `10.0.0.0/8 via proxy-a` / `example.com via direct`.
pub fn describe(r: &Redirect) -> String {
    let what = match (&r.cidr, &r.domain) {
        (Some(c), _) => c.to_string(),
        (None, Some(d)) => d.clone(),
        (None, None) => "?".into(),
    };
    format!("{what} via {}", r.outbound_tag)
}

fn section_key(role: Role) -> String {
    format!("{role}.redirects")
}

fn redirects(st: &State<'_>) -> Result<Vec<Redirect>, EditError> {
    Ok(match st.role {
        Role::Client => st.client()?.client.redirects,
        Role::Server => st.server()?.server.redirects,
    })
}

pub fn add(st: &mut State<'_>, target: &RedirectTarget, via: &str) -> Result<(), EditError> {
    let key = section_key(st.role);
    let via = via.trim();
    if via.is_empty() {
        return Err(EditError::usage("--via", "an outbound tag is required"));
    }
    let via = &super::reverse::resolve_via(st, via)?;
    let want = target.key();
    if let Some(r) = redirects(st)?
        .iter()
        .find(|r| redirect_key(r).as_deref() == Some(want.as_str()))
    {
        return Err(EditError::conflict(
            key,
            format!("a redirect for \"{want}\" already exists ({})", describe(r)),
        ));
    }
    let (k, v) = match target {
        RedirectTarget::Cidr(c) => ("cidr", c.to_string()),
        RedirectTarget::Domain(d) => ("domain", d.clone()),
    };
    let t = doc::table(vec![(k, v.as_str().into()), ("outbound_tag", via.into())]);
    doc::push(st.section()?, "redirects", t).map_err(|m| EditError::conflict(key, m))?;
    st.done(format!("added redirect {v} via {via}"));
    Ok(())
}

pub fn remove(st: &mut State<'_>, target: &RedirectTarget) -> Result<(), EditError> {
    let want = target.key();
    let list = redirects(st)?;
    let i = list
        .iter()
        .position(|r| redirect_key(r).as_deref() == Some(want.as_str()))
        .ok_or_else(|| {
            EditError::not_found(section_key(st.role), format!("no redirect for \"{want}\""))
        })?;
    doc::remove(st.section()?, "redirects", i);
    st.done(format!("removed redirect {}", describe(&list[i])));
    Ok(())
}
