//! Client endpoints (`[[client.endpoints]]`): add, update, enable/disable,
//! remove (refused while something routes through it, unless cascading).

use toml_edit::Value;

use super::doc;
use super::redirects::describe as describe_redirect;
use super::{Created, EditError, State};
use crate::desired::model::{ClientDesired, Endpoint, Port, Protocol};

const KEY: &str = "client.endpoints";

/// Changes of [`super::Edit::EndpointUpdate`]; `None` keeps a key. For the
/// optional keys an empty string removes the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct EndpointChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_insecure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_peer_cert_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
}

impl EndpointChanges {
    pub fn is_empty(&self) -> bool {
        *self == EndpointChanges::default()
    }
}

fn protocol_str(p: Protocol) -> &'static str {
    match p {
        Protocol::Trojan => "trojan",
        Protocol::Vless => "vless",
    }
}

/// The file index of the endpoint tagged `tag` (or, failing that, with that
/// hostname), case-insensitive.
fn find(m: &ClientDesired, tag: &str) -> Result<usize, EditError> {
    let eps = &m.client.endpoints;
    eps.iter()
        .position(|e| e.effective_tag().eq_ignore_ascii_case(tag))
        .or_else(|| {
            let by_host: Vec<usize> = (0..eps.len())
                .filter(|i| eps[*i].hostname.eq_ignore_ascii_case(tag))
                .collect();
            (by_host.len() == 1).then(|| by_host[0])
        })
        .ok_or_else(|| EditError::not_found(KEY, format!("no endpoint tagged \"{tag}\"")))
}

pub fn add(st: &mut State<'_>, e: &Endpoint) -> Result<(), EditError> {
    let m = st.client()?;
    let tag = e.effective_tag();
    if m.client
        .endpoints
        .iter()
        .any(|x| x.effective_tag().eq_ignore_ascii_case(&tag))
    {
        return Err(EditError::conflict(
            KEY,
            format!("an endpoint tagged \"{tag}\" already exists"),
        ));
    }
    let mut pairs: Vec<(&str, Value)> = vec![
        ("tag", tag.as_str().into()),
        ("hostname", e.hostname.as_str().into()),
        ("address", e.address.as_str().into()),
        ("port", i64::from(e.port.0).into()),
        ("protocol", protocol_str(e.protocol).into()),
        ("user", e.user.as_str().into()),
        ("password", e.password.as_str().into()),
    ];
    if let Some(sni) = e.server_name.as_deref().filter(|s| !s.is_empty()) {
        pairs.push(("server_name", sni.into()));
    }
    if e.allow_insecure {
        pairs.push(("allow_insecure", true.into()));
    }
    if !e.pinned_peer_cert_sha256.is_empty() {
        pairs.push((
            "pinned_peer_cert_sha256",
            e.pinned_peer_cert_sha256.as_str().into(),
        ));
    }
    if !e.flow.is_empty() {
        pairs.push(("flow", e.flow.as_str().into()));
    }
    if e.disabled {
        pairs.push(("disabled", true.into()));
    }
    doc::push(st.section()?, "endpoints", doc::table(pairs))
        .map_err(|m| EditError::conflict(KEY, m))?;
    st.done(format!("added endpoint {tag} ({}:{})", e.address, e.port));
    st.created.push(Created::Endpoint { tag });
    Ok(())
}

fn entry<'a>(
    st: &'a mut State<'_>,
    i: usize,
) -> Result<&'a mut dyn toml_edit::TableLike, EditError> {
    doc::entry(st.section()?, "endpoints", i)
        .ok_or_else(|| EditError::conflict(KEY, format!("entry {i} is not a table")))
}

pub fn update(st: &mut State<'_>, tag: &str, c: &EndpointChanges) -> Result<(), EditError> {
    if c.is_empty() {
        return Err(EditError::usage(
            "update",
            "nothing to change (give at least one setting)",
        ));
    }
    let m = st.client()?;
    let i = find(&m, tag)?;
    let ep = &m.client.endpoints[i];
    let name = ep.effective_tag();
    // A tag derived from the hostname is written out first, so that a new
    // hostname does not silently rename the endpoint its routes name.
    let derived = ep.tag.as_deref().is_none_or(|t| t.trim().is_empty());
    let t = entry(st, i)?;
    if derived && c.hostname.is_some() {
        doc::set(t, "tag", name.as_str());
    }
    let text = |t: &mut dyn toml_edit::TableLike, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            doc::set(t, k, v.as_str());
        }
    };
    text(t, "hostname", &c.hostname);
    text(t, "address", &c.address);
    text(t, "user", &c.user);
    text(t, "password", &c.password);
    if let Some(p) = c.port {
        doc::set(t, "port", i64::from(p.0));
    }
    if let Some(p) = c.protocol {
        doc::set(t, "protocol", protocol_str(p));
    }
    if let Some(b) = c.allow_insecure {
        doc::set(t, "allow_insecure", b);
    }
    for (k, v) in [
        ("server_name", &c.server_name),
        ("pinned_peer_cert_sha256", &c.pinned_peer_cert_sha256),
        ("flow", &c.flow),
    ] {
        match v.as_deref() {
            Some("") => doc::unset(t, k),
            Some(v) => doc::set(t, k, v),
            None => {}
        }
    }
    st.done(format!("updated endpoint {name}"));
    Ok(())
}

pub fn set_disabled(st: &mut State<'_>, tag: &str, disabled: bool) -> Result<(), EditError> {
    let m = st.client()?;
    let i = find(&m, tag)?;
    let name = m.client.endpoints[i].effective_tag();
    let t = entry(st, i)?;
    if disabled {
        doc::set(t, "disabled", true);
    } else if t.contains_key("disabled") {
        doc::set(t, "disabled", false);
    }
    st.done(format!(
        "{} endpoint {name}",
        if disabled { "disabled" } else { "enabled" }
    ));
    Ok(())
}

/// What routes through the endpoint `tag`: (redirect indices, forward indices,
/// whether `full_tunnel_tag` names it).
fn users_of(m: &ClientDesired, tag: &str) -> (Vec<usize>, Vec<usize>, bool) {
    let c = &m.client;
    let redirects = (0..c.redirects.len())
        .filter(|i| c.redirects[*i].outbound_tag.eq_ignore_ascii_case(tag))
        .collect();
    let forwards = (0..c.forwards.len())
        .filter(|i| c.forwards[*i].outbound_tag.eq_ignore_ascii_case(tag))
        .collect();
    (
        redirects,
        forwards,
        c.full_tunnel_tag.eq_ignore_ascii_case(tag),
    )
}

pub fn remove(st: &mut State<'_>, tag: &str, cascade: bool) -> Result<(), EditError> {
    let m = st.client()?;
    let i = find(&m, tag)?;
    let name = m.client.endpoints[i].effective_tag();
    let (redirects, forwards, full) = users_of(&m, &name);
    let mut named: Vec<String> = Vec::new();
    named.extend(
        redirects
            .iter()
            .map(|r| format!("redirect {}", describe_redirect(&m.client.redirects[*r]))),
    );
    named.extend(forwards.iter().map(|f| {
        let f = &m.client.forwards[*f];
        format!("forward {}:{}", f.listen_address, f.listen_port)
    }));
    if full {
        named.push("client.full_tunnel_tag".into());
    }
    if !named.is_empty() && !cascade {
        return Err(EditError::conflict(
            KEY,
            format!(
                "endpoint \"{name}\" is still used by {}; remove those first or use --cascade",
                named.join(", ")
            ),
        ));
    }
    let section = st.section()?;
    for r in redirects.iter().rev() {
        doc::remove(section, "redirects", *r);
    }
    for f in forwards.iter().rev() {
        doc::remove(section, "forwards", *f);
    }
    if full {
        doc::unset(section, "full_tunnel_tag");
    }
    doc::remove(section, "endpoints", i);
    st.done(if named.is_empty() {
        format!("removed endpoint {name}")
    } else {
        format!("removed endpoint {name} and its {}", named.join(", "))
    });
    Ok(())
}
