//! What a console browses of a role's Desired (`desired` → `desired.ok`):
//! server users, client endpoints, redirects and forwards — and never a
//! credential (a read-only `socket_group` member may ask for it; the user's
//! link, which carries the credential, is `user_link`, owner only).

use serde::{Deserialize, Serialize};
use xp2p_core::Role;
use xp2p_core::desired::model::{ClientDesired, Forward, Protocol, Redirect, ServerDesired};

/// One `[[server.users]]` entry, without its credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub label: String,
    pub disabled: bool,
    /// A rotation grace is running (the previous credential still works).
    pub rotating: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
}

/// One `[[client.endpoints]]` entry, without its user and password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRow {
    /// The effective outbound tag (the one redirects and forwards name).
    pub tag: String,
    pub host: String,
    pub address: String,
    pub port: u16,
    pub protocol: Protocol,
    pub disabled: bool,
}

/// A role's Desired as the console lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredView {
    pub role: Role,
    /// Server only.
    #[serde(default)]
    pub users: Vec<UserRow>,
    /// Client only.
    #[serde(default)]
    pub endpoints: Vec<EndpointRow>,
    #[serde(default)]
    pub redirects: Vec<Redirect>,
    #[serde(default)]
    pub forwards: Vec<Forward>,
    /// Whether the asking peer may edit (false for read-only members: the
    /// service decides, the console only shows it).
    #[serde(default)]
    pub editable: bool,
}

impl DesiredView {
    pub fn of_client(m: &ClientDesired) -> DesiredView {
        let c = &m.client;
        DesiredView {
            role: Role::Client,
            users: Vec::new(),
            endpoints: c
                .endpoints
                .iter()
                .map(|e| EndpointRow {
                    tag: e.effective_tag(),
                    host: e.hostname.clone(),
                    address: e.address.clone(),
                    port: e.port.0,
                    protocol: e.protocol,
                    disabled: e.disabled,
                })
                .collect(),
            redirects: c.redirects.clone(),
            forwards: c.forwards.clone(),
            editable: true,
        }
    }

    pub fn of_server(m: &ServerDesired, now: std::time::SystemTime) -> DesiredView {
        let s = &m.server;
        DesiredView {
            role: Role::Server,
            users: s
                .users
                .iter()
                .map(|u| UserRow {
                    label: u.user_label.clone(),
                    disabled: u.disabled,
                    rotating: u.previous_in_grace(now).is_some(),
                    created_at: u.created_at.clone(),
                    rotated_at: u.rotated_at.clone(),
                })
                .collect(),
            endpoints: Vec::new(),
            redirects: s.redirects.clone(),
            forwards: s.forwards.clone(),
            editable: true,
        }
    }

    /// The view of a Desired TOML's text (`path` names it in errors).
    pub fn parse(role: Role, path: &std::path::Path, text: &str) -> Result<DesiredView, String> {
        match role {
            Role::Client => xp2p_core::desired::parse_client(path, text)
                .map(|m| DesiredView::of_client(&m))
                .map_err(|p| p.summary()),
            Role::Server => xp2p_core::desired::parse_server(path, text)
                .map(|m| DesiredView::of_server(&m, std::time::SystemTime::now()))
                .map_err(|p| p.summary()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret-Credential-0001";

    #[test]
    fn the_view_lists_entries_without_any_credential() {
        let path = std::path::Path::new("xp2p-server.toml");
        let server = format!(
            "[server]\nhost = \"h.example\"\n\n[[server.users]]\nuser_label = \"alice\"\n\
             credential = \"{SECRET}\"\nprevious_credential = \"{SECRET}-old\"\n\
             rotation_expires_at = \"2999-01-01T00:00:00Z\"\ncreated_at = \"2026-01-01T00:00:00Z\"\n\n\
             [[server.users]]\nuser_label = \"bob\"\ncredential = \"x{SECRET}\"\ndisabled = true\n"
        );
        let v = DesiredView::parse(Role::Server, path, &server).unwrap();
        assert_eq!(v.users.len(), 2);
        assert_eq!(
            (
                v.users[0].label.as_str(),
                v.users[0].rotating,
                v.users[1].disabled
            ),
            ("alice", true, true)
        );
        let wire = serde_json::to_string(&v).unwrap();
        assert!(!wire.contains(SECRET), "{wire}");

        let client = format!(
            "[client]\n\n[[client.endpoints]]\nhostname = \"peer.example\"\naddress = \"10.0.0.1\"\n\
             port = 443\nuser = \"u@x\"\npassword = \"{SECRET}\"\n\n[[client.redirects]]\n\
             cidr = \"10.77.0.0/16\"\noutbound_tag = \"proxy-peer-example\"\n"
        );
        let path = std::path::Path::new("xp2p-client.toml");
        let v = DesiredView::parse(Role::Client, path, &client).unwrap();
        assert_eq!(v.endpoints[0].tag, "proxy-peer-example");
        assert_eq!(v.redirects[0].outbound_tag, "proxy-peer-example");
        let wire = serde_json::to_string(&v).unwrap();
        assert!(!wire.contains(SECRET), "{wire}");
        assert!(!wire.contains("u@x"), "{wire}");
        let back: DesiredView = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn an_unreadable_file_is_one_message() {
        let e = DesiredView::parse(Role::Client, std::path::Path::new("c.toml"), "[client")
            .unwrap_err();
        assert!(e.contains("c.toml"), "{e}");
    }
}
