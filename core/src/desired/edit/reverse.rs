//! Reverse channels: the server's `[server.reverse_channels.<key>]` (portals)
//! and the client's `[client.reverse.<key>]` (bridges) — add, enable/disable,
//! remove (a channel that server redirects or forwards route through only
//! with `cascade`); a user's removal with its channels; and `--via <key>`
//! of server redirects and forwards resolved to the channel's tag.

use toml_edit::{Item, Table, Value};

use super::doc;
use super::redirects::describe as describe_redirect;
use super::{EditError, State};
use crate::desired::model::{ClientDesired, ServerDesired};
use crate::desired::names::{is_channel_key, reverse_name, sanitize};
use crate::role::Role;

const SERVER_KEY: &str = "server.reverse_channels";
const CLIENT_KEY: &str = "client.reverse";

/// The role's table name and its key path in messages.
fn names(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Server => ("reverse_channels", SERVER_KEY),
        Role::Client => ("reverse", CLIENT_KEY),
    }
}

/// A channel or bridge of the file: its key as written, its tag.
struct Found {
    key: String,
    tag: String,
}

/// (key, effective tag) of every channel (server) or bridge (client).
fn entries(st: &State<'_>) -> Result<Vec<Found>, EditError> {
    Ok(match st.role {
        Role::Server => st
            .server()?
            .server
            .reverse_channels
            .iter()
            .map(|(k, c)| Found {
                key: k.clone(),
                tag: c.effective_tag(),
            })
            .collect(),
        Role::Client => st
            .client()?
            .client
            .reverse
            .iter()
            .map(|(k, b)| Found {
                key: k.clone(),
                tag: b.effective_tag(),
            })
            .collect(),
    })
}

/// The entry named `name`: by key (case-insensitive), else by tag.
fn find(st: &State<'_>, name: &str) -> Result<Found, EditError> {
    let name = name.trim();
    let all = entries(st)?;
    let (_, key) = names(st.role);
    let mut by_key = None;
    let mut by_tag = None;
    for f in all {
        if f.key.eq_ignore_ascii_case(name) {
            by_key = Some(f);
        } else if f.tag.eq_ignore_ascii_case(name) {
            by_tag = Some(f);
        }
    }
    by_key
        .or(by_tag)
        .ok_or_else(|| EditError::not_found(key, format!("no reverse channel keyed \"{name}\"")))
}

/// The channel's table in the file.
fn table_mut<'a>(
    st: &'a mut State<'_>,
    key: &str,
) -> Result<&'a mut dyn toml_edit::TableLike, EditError> {
    let (name, path) = names(st.role);
    st.section()?
        .get_mut(name)
        .and_then(Item::as_table_like_mut)
        .and_then(|t| t.get_mut(key))
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| EditError::conflict(format!("{path}.{key}"), "is not a table"))
}

/// Inserts `[<role>.<name>.<key>]` in the file's style (an inline table
/// stays inline; a new one goes after the role's last table).
fn insert(st: &mut State<'_>, key: &str, t: Table) -> Result<(), EditError> {
    let (name, path) = names(st.role);
    let section = st.section()?;
    if section.get(name).is_none() {
        let mut parent = Table::new();
        parent.set_implicit(true);
        section.insert(name, Item::Table(parent));
    }
    match section.get_mut(name) {
        Some(Item::Table(parent)) => {
            parent.insert(key, Item::Table(t));
            Ok(())
        }
        Some(Item::Value(Value::InlineTable(parent))) => {
            parent.insert(key, Value::InlineTable(t.into_inline_table()));
            Ok(())
        }
        _ => Err(EditError::conflict(
            path,
            format!("`{name}` is not a table"),
        )),
    }
}

fn check_new_key(st: &State<'_>, key: &str) -> Result<(), EditError> {
    let (_, path) = names(st.role);
    if !is_channel_key(key) {
        return Err(EditError::usage(
            "--key",
            format!("\"{key}\" is not a channel key (1-64 letters, digits, `-` or `_`)"),
        ));
    }
    if let Some(f) = entries(st)?
        .iter()
        .find(|f| f.key.eq_ignore_ascii_case(key))
    {
        return Err(EditError::conflict(
            path,
            format!("a reverse channel keyed \"{}\" already exists", f.key),
        ));
    }
    Ok(())
}

/// Server: a channel into the LAN behind the client that logs in as `user`.
/// `key` defaults to the sanitized label, `host` to `server.host`; the
/// derived tag and domain are written out (what `--via` and the client's
/// bridge name).
pub fn add_channel(
    st: &mut State<'_>,
    key: Option<&str>,
    user: &str,
    host: Option<&str>,
) -> Result<(), EditError> {
    let m: ServerDesired = st.server()?;
    let user = user.trim();
    if user.is_empty() {
        return Err(EditError::usage("USER", "a user label is required"));
    }
    let label = m
        .server
        .users
        .iter()
        .find(|u| u.user_label.eq_ignore_ascii_case(user))
        .map(|u| u.user_label.clone())
        .ok_or_else(|| {
            EditError::not_found("server.users", format!("no user labelled \"{user}\""))
        })?;
    let host = match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None if !m.server.host.trim().is_empty() => m.server.host.trim().to_string(),
        None => {
            return Err(EditError::usage(
                "--host",
                "server.host is not set; give the host name clients connect to",
            ));
        }
    };
    let key = key
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|| sanitize(&label));
    check_new_key(st, &key)?;
    let name = reverse_name(&label, &host);
    let t = doc::table(vec![
        ("user_id", label.as_str().into()),
        ("host", host.as_str().into()),
        ("tag", name.as_str().into()),
        ("domain", name.as_str().into()),
    ]);
    insert(st, &key, t)?;
    st.done(format!(
        "added reverse channel {key} ({name}) for user {label}"
    ));
    Ok(())
}

/// Client: a bridge that reaches the server's portal through the endpoint
/// `endpoint` (its tag, or its host name if unique). `user` and `host`
/// default to the endpoint's (they must match the server's channel); `key`
/// to the sanitized host.
pub fn add_bridge(
    st: &mut State<'_>,
    key: Option<&str>,
    endpoint: &str,
    user: Option<&str>,
    host: Option<&str>,
) -> Result<(), EditError> {
    let m: ClientDesired = st.client()?;
    let want = endpoint.trim();
    let eps = &m.client.endpoints;
    let by_host: Vec<_> = eps
        .iter()
        .filter(|e| e.hostname.eq_ignore_ascii_case(want))
        .collect();
    let e = eps
        .iter()
        .find(|e| e.effective_tag().eq_ignore_ascii_case(want))
        .or_else(|| (by_host.len() == 1).then(|| by_host[0]))
        .ok_or_else(|| {
            EditError::not_found("client.endpoints", format!("no endpoint tagged \"{want}\""))
        })?;
    let pick = |given: Option<&str>, default: &str| {
        given
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_string()
    };
    let user = pick(user, &e.user);
    let host = pick(host, &e.hostname);
    let key = key
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|| sanitize(&host));
    check_new_key(st, &key)?;
    let name = reverse_name(&user, &host);
    let endpoint_tag = e.effective_tag();
    let t = doc::table(vec![
        ("user_id", user.as_str().into()),
        ("host", host.as_str().into()),
        ("tag", name.as_str().into()),
        ("domain", name.as_str().into()),
        ("endpoint_tag", endpoint_tag.as_str().into()),
    ]);
    insert(st, &key, t)?;
    st.done(format!(
        "added reverse bridge {key} ({name}) via {endpoint_tag}"
    ));
    Ok(())
}

pub fn set_disabled(st: &mut State<'_>, name: &str, disabled: bool) -> Result<(), EditError> {
    let f = find(st, name)?;
    let t = table_mut(st, &f.key)?;
    if disabled {
        doc::set(t, "disabled", true);
    } else if t.contains_key("disabled") {
        doc::set(t, "disabled", false);
    }
    st.done(format!(
        "{} reverse channel {}",
        if disabled { "disabled" } else { "enabled" },
        f.key
    ));
    Ok(())
}

/// What routes through the server channel tagged `tag`: (redirect indices,
/// forward indices, their descriptions).
fn routed_via(m: &ServerDesired, tag: &str) -> (Vec<usize>, Vec<usize>, Vec<String>) {
    let s = &m.server;
    let redirects: Vec<usize> = (0..s.redirects.len())
        .filter(|i| s.redirects[*i].outbound_tag.eq_ignore_ascii_case(tag))
        .collect();
    let forwards: Vec<usize> = (0..s.forwards.len())
        .filter(|i| s.forwards[*i].outbound_tag.eq_ignore_ascii_case(tag))
        .collect();
    let mut named: Vec<String> = redirects
        .iter()
        .map(|r| format!("redirect {}", describe_redirect(&s.redirects[*r])))
        .collect();
    named.extend(forwards.iter().map(|f| {
        let f = &s.forwards[*f];
        format!("forward {}:{}", f.listen_address, f.listen_port)
    }));
    (redirects, forwards, named)
}

/// Removes a channel; on the server refused while a redirect or forward
/// routes through it, unless `cascade` (which removes those too).
pub fn remove(st: &mut State<'_>, name: &str, cascade: bool) -> Result<(), EditError> {
    let f = find(st, name)?;
    let (table, path) = names(st.role);
    let (redirects, forwards, named) = match st.role {
        Role::Server => routed_via(&st.server()?, &f.tag),
        Role::Client => (Vec::new(), Vec::new(), Vec::new()),
    };
    if !named.is_empty() && !cascade {
        return Err(EditError::conflict(
            path,
            format!(
                "reverse channel \"{}\" is still used by {}; remove those first or use --cascade",
                f.key,
                named.join(", ")
            ),
        ));
    }
    let section = st.section()?;
    for r in redirects.iter().rev() {
        doc::remove(section, "redirects", *r);
    }
    for i in forwards.iter().rev() {
        doc::remove(section, "forwards", *i);
    }
    let removed = section
        .get_mut(table)
        .and_then(Item::as_table_like_mut)
        .and_then(|t| t.remove(&f.key))
        .is_some();
    if !removed {
        return Err(EditError::conflict(
            format!("{path}.{}", f.key),
            "cannot be removed",
        ));
    }
    st.done(if named.is_empty() {
        format!("removed reverse channel {}", f.key)
    } else {
        format!(
            "removed reverse channel {} and its {}",
            f.key,
            named.join(", ")
        )
    });
    Ok(())
}

/// Keys of the server channels of the user labelled `label`.
pub fn channels_of(m: &ServerDesired, label: &str) -> Vec<String> {
    m.server
        .reverse_channels
        .iter()
        .filter(|(_, c)| c.user_id.trim().eq_ignore_ascii_case(label.trim()))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Server: removes the user labelled `label` with its channels and what
/// routes through them.
pub fn remove_user_with_channels(st: &mut State<'_>, label: &str) -> Result<(), EditError> {
    for key in channels_of(&st.server()?, label) {
        remove(st, &key, true)?;
    }
    super::users::remove(st, label)
}

/// The `outbound_tag` a server redirect or forward stores for `via`: a
/// channel's key becomes its tag; anything else (an outbound tag, a channel
/// tag) is kept.
pub fn resolve_via(st: &State<'_>, via: &str) -> Result<String, EditError> {
    let via = via.trim();
    if st.role != Role::Server {
        return Ok(via.to_string());
    }
    let all = entries(st)?;
    if all.iter().any(|f| f.tag.eq_ignore_ascii_case(via)) {
        return Ok(via.to_string());
    }
    Ok(all
        .into_iter()
        .find(|f| f.key.eq_ignore_ascii_case(via))
        .map_or_else(|| via.to_string(), |f| f.tag))
}

#[cfg(test)]
mod tests;
