//! One edit form of the console (add / edit a user, an endpoint, a redirect or
//! a forward): its fields, the keys that change them, and the check that turns
//! them into typed [`Edit`]s or one line naming the field at fault. Pure: time
//! and random bytes come from the caller ([`Gen`]).

use std::net::SocketAddr;
use std::time::SystemTime;

use xp2p_core::Role;
use xp2p_core::desired::edit::{self, Edit, EndpointChanges, RedirectTarget};
use xp2p_core::desired::model::{Forward, ForwardProtocol, Port, Redirect};
use xp2p_core::links::TunnelLink;

use super::EditKey;

/// A field's kind: free text, or one of a few words cycled with Space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Choice(&'static [&'static str]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub value: String,
    pub kind: FieldKind,
    /// Shown dim beside an empty field.
    pub hint: &'static str,
}

impl Field {
    fn text(name: &'static str, value: impl Into<String>, hint: &'static str) -> Field {
        Field {
            name,
            value: value.into(),
            kind: FieldKind::Text,
            hint,
        }
    }

    fn choice(name: &'static str, options: &'static [&'static str], value: &str) -> Field {
        Field {
            name,
            value: value.to_string(),
            kind: FieldKind::Choice(options),
            hint: "Space changes",
        }
    }
}

const ROUTE_TYPES: &[&str] = &["redirect", "forward"];
const PROTOS: &[&str] = &["tcp", "udp", "both"];
/// The longest value a field takes (a link is the longest).
const MAX_VALUE: usize = 2048;

/// What the form adds or changes.
#[derive(Debug, Clone, PartialEq)]
pub enum FormKind {
    /// A redirect or a forward (the `type` field says which); `replaces` is the
    /// entry being edited, removed in the same write.
    Route {
        replaces: Option<Edit>,
    },
    UserAdd,
    /// A new credential for the user, the old one kept for the grace.
    UserRotate {
        label: String,
    },
    EndpointAdd,
    EndpointEdit {
        tag: String,
        original: Vec<String>,
    },
}

/// Values the form cannot make up itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gen {
    pub now: SystemTime,
    /// Random bytes for a generated label (5) and credential (16).
    pub random: [u8; 21],
}

impl Gen {
    /// The clock now and fresh random bytes (the input side makes these; the
    /// reducer stays pure).
    pub fn fresh() -> Gen {
        let a = uuid::Uuid::new_v4().into_bytes();
        let b = uuid::Uuid::new_v4().into_bytes();
        let mut random = [0u8; 21];
        random[..16].copy_from_slice(&a);
        random[16..].copy_from_slice(&b[..5]);
        Gen {
            now: SystemTime::now(),
            random,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub role: Role,
    pub kind: FormKind,
    pub title: String,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// The last refusal, one line (the form's or the service's).
    pub error: Option<String>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormStep {
    Stay,
    Cancel,
    /// Enter on a form that checks out.
    Submit(Vec<Edit>),
}

impl Form {
    /// Add a redirect (or, with `type` changed, a forward) on `role`.
    pub fn route_add(role: Role, via: &str) -> Form {
        let mut f = Form {
            role,
            kind: FormKind::Route { replaces: None },
            title: format!("add a {role} route"),
            fields: Vec::new(),
            focus: 1,
            error: None,
        };
        f.set_route_type("redirect", via);
        f
    }

    /// Edit a redirect: the old one is removed and the new one added in one write.
    pub fn redirect_edit(role: Role, r: &Redirect) -> Form {
        let target = match (&r.cidr, &r.domain) {
            (Some(c), _) => c.to_string(),
            (None, Some(d)) => d.clone(),
            (None, None) => String::new(),
        };
        let old = route_target(&target)
            .ok()
            .map(|t| Edit::RedirectRemove { role, target: t });
        Form {
            role,
            kind: FormKind::Route { replaces: old },
            title: format!("edit the redirect of {target}"),
            fields: vec![
                Field::choice("type", &ROUTE_TYPES[..1], "redirect"),
                Field::text("match", target, "CIDR (10.20.0.0/16) or domain"),
                Field::text(
                    "via",
                    r.outbound_tag.clone(),
                    "an endpoint's tag, or direct",
                ),
            ],
            focus: 1,
            error: None,
        }
    }

    /// Edit a forward: the old one is removed and the new one added in one write.
    pub fn forward_edit(role: Role, fw: &Forward) -> Form {
        let listen = SocketAddr::new(fw.listen_address, fw.listen_port.0);
        Form {
            role,
            kind: FormKind::Route {
                replaces: Some(Edit::ForwardRemove { role, listen }),
            },
            title: format!("edit the forward on {listen}"),
            fields: vec![
                Field::choice("type", &ROUTE_TYPES[1..], "forward"),
                Field::text("listen", listen.to_string(), "127.0.0.1:2222"),
                Field::text(
                    "target",
                    format!("{}:{}", fw.target_host, fw.target_port),
                    "10.20.0.5:22",
                ),
                Field::choice("proto", PROTOS, proto_str(fw.protocol)),
                Field::text(
                    "via",
                    fw.outbound_tag.clone(),
                    "an endpoint's tag, or direct",
                ),
            ],
            focus: 1,
            error: None,
        }
    }

    pub fn user_add() -> Form {
        Form {
            role: Role::Server,
            kind: FormKind::UserAdd,
            title: "add a server user".into(),
            fields: vec![
                Field::text("label", "", "empty: generated (client-…@xp2p.local)"),
                Field::text("credential", "", "empty: a new UUID"),
            ],
            focus: 0,
            error: None,
        }
    }

    pub fn user_rotate(label: &str) -> Form {
        Form {
            role: Role::Server,
            kind: FormKind::UserRotate {
                label: label.to_string(),
            },
            title: format!("rotate the credential of {label}"),
            fields: vec![
                Field::text("credential", "", "empty: a new UUID"),
                Field::text("grace", "", "old one keeps working (24h); empty: none"),
            ],
            focus: 0,
            error: None,
        }
    }

    pub fn endpoint_add() -> Form {
        Form {
            role: Role::Client,
            kind: FormKind::EndpointAdd,
            title: "add a client endpoint".into(),
            fields: vec![
                Field::text(
                    "link",
                    "",
                    "trojan://… or vless://… (xp2p server user show)",
                ),
                Field::text("tag", "", "empty: proxy-<host>"),
            ],
            focus: 0,
            error: None,
        }
    }

    pub fn endpoint_edit(e: &xp2p_ipc::EndpointRow) -> Form {
        let original = vec![e.host.clone(), e.address.clone(), e.port.to_string()];
        Form {
            role: Role::Client,
            kind: FormKind::EndpointEdit {
                tag: e.tag.clone(),
                original: original.clone(),
            },
            title: format!("edit the endpoint {}", e.tag),
            fields: vec![
                Field::text("host", original[0].clone(), "the server's name (TLS SNI)"),
                Field::text("address", original[1].clone(), "what the core dials"),
                Field::text("port", original[2].clone(), "1-65535"),
                Field::text("password", "", "empty: unchanged"),
            ],
            focus: 0,
            error: None,
        }
    }

    /// The field a key acts on.
    pub fn focused(&self) -> Option<&Field> {
        self.fields.get(self.focus)
    }

    fn value(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map_or("", |f| f.value.trim())
    }

    /// The route form's fields for `kind`, keeping what the two share.
    fn set_route_type(&mut self, kind: &str, via: &str) {
        let via = match self.fields.iter().find(|f| f.name == "via") {
            Some(f) => f.value.clone(),
            None => via.to_string(),
        };
        self.fields = if kind == "forward" {
            vec![
                Field::choice("type", ROUTE_TYPES, "forward"),
                Field::text("listen", "", "127.0.0.1:2222"),
                Field::text("target", "", "10.20.0.5:22"),
                Field::choice("proto", PROTOS, "tcp"),
                Field::text("via", via, "an endpoint's tag, or direct"),
            ]
        } else {
            vec![
                Field::choice("type", ROUTE_TYPES, "redirect"),
                Field::text("match", "", "CIDR (10.20.0.0/16) or domain"),
                Field::text("via", via, "an endpoint's tag, or direct"),
            ]
        };
        self.focus = self.focus.min(self.fields.len() - 1);
    }

    /// One key: typing, Tab between fields, Space on a choice, Enter checks
    /// and submits, Esc cancels.
    pub fn key(&mut self, key: EditKey, gen_: &Gen) -> FormStep {
        let n = self.fields.len().max(1);
        match key {
            EditKey::Esc => return FormStep::Cancel,
            EditKey::Tab | EditKey::Down => self.focus = (self.focus + 1) % n,
            EditKey::BackTab | EditKey::Up => self.focus = (self.focus + n - 1) % n,
            EditKey::Enter => match self.edits(gen_) {
                Ok(edits) => {
                    self.error = None;
                    return FormStep::Submit(edits);
                }
                Err(e) => self.error = Some(e),
            },
            EditKey::Backspace => {
                if let Some(f) = self.fields.get_mut(self.focus)
                    && f.kind == FieldKind::Text
                {
                    f.value.pop();
                }
            }
            EditKey::Char(c) => self.typed(c),
            EditKey::PageUp | EditKey::PageDown => {}
        }
        FormStep::Stay
    }

    fn typed(&mut self, c: char) {
        let Some(f) = self.fields.get_mut(self.focus) else {
            return;
        };
        match f.kind {
            FieldKind::Text => {
                if !c.is_control() && f.value.len() < MAX_VALUE {
                    f.value.push(c);
                }
            }
            FieldKind::Choice(options) => {
                let i = options.iter().position(|o| *o == f.value).unwrap_or(0);
                let next = if c == ' ' {
                    Some(options[(i + 1) % options.len()])
                } else {
                    options.iter().copied().find(|o| o.starts_with(c))
                };
                if let Some(next) = next
                    && next != f.value
                {
                    if f.name == "type" {
                        self.set_route_type(next, "");
                    } else {
                        f.value = next.to_string();
                    }
                }
            }
        }
    }

    /// The edits the form stands for, or one line naming the field at fault.
    pub fn edits(&self, g: &Gen) -> Result<Vec<Edit>, String> {
        let role = self.role;
        match &self.kind {
            FormKind::Route { replaces } => {
                let via = self.value("via");
                if via.is_empty() {
                    return Err(
                        "via: the outbound tag is required (an endpoint's tag, or direct)".into(),
                    );
                }
                let add = if self.value("type") == "forward" {
                    Edit::ForwardAdd {
                        role,
                        forward: self.forward(via)?,
                    }
                } else {
                    Edit::RedirectAdd {
                        role,
                        target: route_target(self.value("match"))?,
                        via: via.to_string(),
                    }
                };
                Ok(replaces.iter().cloned().chain([add]).collect())
            }
            FormKind::UserAdd => {
                let mut label = self.value("label").to_string();
                if label.is_empty() {
                    let mut five = [0u8; 5];
                    five.copy_from_slice(&g.random[..5]);
                    label = edit::generated_label(five);
                }
                Ok(vec![Edit::UserAdd {
                    label,
                    credential: self.credential(g),
                }])
            }
            FormKind::UserRotate { label } => {
                let grace = self.value("grace");
                let grace_until = if grace.is_empty() {
                    None
                } else {
                    let d = humantime::parse_duration(grace).map_err(|_| {
                        format!("grace: \"{grace}\" is not a duration (like 24h or 30m)")
                    })?;
                    Some(humantime::format_rfc3339_seconds(g.now + d).to_string())
                };
                Ok(vec![Edit::UserRotate {
                    label: label.clone(),
                    new_credential: self.credential(g),
                    grace_until,
                }])
            }
            FormKind::EndpointAdd => {
                let link = self.value("link");
                if link.is_empty() {
                    return Err("link: paste the server's trojan:// or vless:// link".into());
                }
                let tag = Some(self.value("tag")).filter(|t| !t.is_empty());
                let endpoint = TunnelLink::parse(link)
                    .and_then(|l| l.to_endpoint(tag))
                    .map_err(|e| format!("link: {}", e.message))?;
                Ok(vec![Edit::EndpointAdd(endpoint)])
            }
            FormKind::EndpointEdit { tag, original } => {
                let changed = |i: usize, name: &str| -> Option<String> {
                    let v = self.value(name);
                    (original.get(i).map(String::as_str) != Some(v)).then(|| v.to_string())
                };
                let port = match changed(2, "port") {
                    Some(p) => Some(parse_port("port", &p)?),
                    None => None,
                };
                let password = Some(self.value("password").to_string()).filter(|p| !p.is_empty());
                let changes = EndpointChanges {
                    hostname: changed(0, "host"),
                    address: changed(1, "address"),
                    port,
                    password,
                    ..EndpointChanges::default()
                };
                if changes.is_empty() {
                    return Err("nothing changed: edit a field first (Esc leaves)".into());
                }
                Ok(vec![Edit::EndpointUpdate {
                    tag: tag.clone(),
                    changes,
                }])
            }
        }
    }

    fn credential(&self, g: &Gen) -> String {
        match self.value("credential") {
            "" => {
                let mut sixteen = [0u8; 16];
                sixteen.copy_from_slice(&g.random[5..]);
                edit::generated_credential(sixteen)
            }
            c => c.to_string(),
        }
    }

    fn forward(&self, via: &str) -> Result<Forward, String> {
        let listen_text = self.value("listen");
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            format!("listen: \"{listen_text}\" is not an address:port (like 127.0.0.1:2222)")
        })?;
        let target = self.value("target");
        let (host, port) = target
            .rsplit_once(':')
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| format!("target: \"{target}\" is not host:port (like 10.20.0.5:22)"))?;
        let protocol = match self.value("proto") {
            "udp" => ForwardProtocol::Udp,
            "both" => ForwardProtocol::Both,
            _ => ForwardProtocol::Tcp,
        };
        Ok(Forward {
            listen_address: listen.ip(),
            listen_port: parse_port("listen", &listen.port().to_string())?,
            target_host: host.trim_matches(['[', ']']).to_string(),
            target_port: parse_port("target", port)?,
            protocol,
            outbound_tag: via.to_string(),
        })
    }
}

fn proto_str(p: ForwardProtocol) -> &'static str {
    match p {
        ForwardProtocol::Tcp => "tcp",
        ForwardProtocol::Udp => "udp",
        ForwardProtocol::Both => "both",
    }
}

fn parse_port(field: &str, s: &str) -> Result<Port, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(Port(p)),
        _ => Err(format!("{field}: port \"{s}\" is not 1-65535")),
    }
}

/// A CIDR when it has a prefix length, else a domain (or matcher).
fn route_target(s: &str) -> Result<RedirectTarget, String> {
    if s.is_empty() {
        return Err("match: a CIDR (10.20.0.0/16) or a domain is required".into());
    }
    // Only a CIDR (or a regexp matcher) has a `/`.
    let t = if s.contains('/') && !s.starts_with("regexp:") {
        RedirectTarget::cidr(s)
    } else {
        RedirectTarget::domain(s)
    };
    t.map_err(|e| format!("match: {}", e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> Gen {
        Gen {
            now: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600),
            random: [7; 21],
        }
    }

    fn type_in(f: &mut Form, text: &str) {
        for c in text.chars() {
            assert_eq!(f.key(EditKey::Char(c), &g()), FormStep::Stay);
        }
    }

    #[test]
    fn a_redirect_is_typed_tabbed_and_submitted() {
        let mut f = Form::route_add(Role::Client, "");
        assert_eq!(f.focused().unwrap().name, "match");
        type_in(&mut f, "10.77.0.0/16");
        f.key(EditKey::Tab, &g());
        assert_eq!(f.focused().unwrap().name, "via");
        type_in(&mut f, "proxy-localhostX");
        f.key(EditKey::Backspace, &g());
        let step = f.key(EditKey::Enter, &g());
        assert_eq!(
            step,
            FormStep::Submit(vec![Edit::RedirectAdd {
                role: Role::Client,
                target: RedirectTarget::cidr("10.77.0.0/16").unwrap(),
                via: "proxy-localhost".into(),
            }])
        );
        assert_eq!(f.key(EditKey::Esc, &g()), FormStep::Cancel);
    }

    #[test]
    fn bad_values_are_one_line_naming_the_field() {
        let mut f = Form::route_add(Role::Client, "direct");
        assert_eq!(f.key(EditKey::Enter, &g()), FormStep::Stay);
        assert_eq!(
            f.error.as_deref(),
            Some("match: a CIDR (10.20.0.0/16) or a domain is required")
        );
        type_in(&mut f, "10.77.0.0/99");
        f.key(EditKey::Enter, &g());
        let e = f.error.clone().unwrap();
        assert!(
            e.starts_with("match: ") && e.contains("10.77.0.0/99"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        // A domain goes as a domain.
        let mut f = Form::route_add(Role::Server, "direct");
        type_in(&mut f, "example.com");
        let FormStep::Submit(edits) = f.key(EditKey::Enter, &g()) else {
            panic!("{:?}", f.error)
        };
        assert!(
            matches!(&edits[0], Edit::RedirectAdd { target: RedirectTarget::Domain(d), .. } if d == "example.com")
        );
        // Empty via.
        let mut f = Form::route_add(Role::Client, "");
        type_in(&mut f, "10.1.0.0/16");
        f.key(EditKey::Enter, &g());
        assert!(f.error.as_deref().unwrap().starts_with("via: "));
    }

    #[test]
    fn space_on_the_type_switches_to_a_forward_keeping_via() {
        let mut f = Form::route_add(Role::Client, "proxy-a");
        f.key(EditKey::BackTab, &g());
        assert_eq!(f.focused().unwrap().name, "type");
        f.key(EditKey::Char(' '), &g());
        let names: Vec<&str> = f.fields.iter().map(|x| x.name).collect();
        assert_eq!(names, ["type", "listen", "target", "proto", "via"]);
        assert_eq!(f.value("via"), "proxy-a");
        f.key(EditKey::Tab, &g());
        type_in(&mut f, "127.0.0.1:2222");
        f.key(EditKey::Tab, &g());
        type_in(&mut f, "10.20.0.5:22");
        f.key(EditKey::Tab, &g());
        f.key(EditKey::Char('b'), &g());
        assert_eq!(f.value("proto"), "both");
        let FormStep::Submit(edits) = f.key(EditKey::Enter, &g()) else {
            panic!("{:?}", f.error)
        };
        let Edit::ForwardAdd { forward, .. } = &edits[0] else {
            panic!("{edits:?}")
        };
        assert_eq!(
            (forward.listen_port, forward.target_port, forward.protocol),
            (Port(2222), Port(22), ForwardProtocol::Both)
        );
        // A bad listen address names the field.
        f.fields[1].value = "localhost".into();
        f.key(EditKey::Enter, &g());
        assert!(
            f.error.as_deref().unwrap().starts_with("listen: "),
            "{:?}",
            f.error
        );
    }

    #[test]
    fn editing_a_route_removes_the_old_one_in_the_same_write() {
        let r = Redirect {
            cidr: None,
            domain: Some("a.example".into()),
            outbound_tag: "direct".into(),
        };
        let mut f = Form::redirect_edit(Role::Client, &r);
        f.key(EditKey::Tab, &g());
        for _ in "direct".chars() {
            f.key(EditKey::Backspace, &g());
        }
        type_in(&mut f, "proxy-b");
        let FormStep::Submit(edits) = f.key(EditKey::Enter, &g()) else {
            panic!("{:?}", f.error)
        };
        assert_eq!(edits.len(), 2);
        assert!(matches!(&edits[0], Edit::RedirectRemove { .. }));
        assert!(matches!(&edits[1], Edit::RedirectAdd { via, .. } if via == "proxy-b"));
    }

    #[test]
    fn users_get_generated_values_and_a_grace_from_now() {
        let mut f = Form::user_add();
        let FormStep::Submit(edits) = f.key(EditKey::Enter, &g()) else {
            panic!()
        };
        let Edit::UserAdd { label, credential } = &edits[0] else {
            panic!()
        };
        assert!(
            label.starts_with("client-") && label.ends_with("@xp2p.local"),
            "{label}"
        );
        assert_eq!(credential.len(), 36);
        let mut f = Form::user_rotate("alice");
        f.key(EditKey::Tab, &g());
        type_in(&mut f, "soon");
        f.key(EditKey::Enter, &g());
        assert!(f.error.as_deref().unwrap().starts_with("grace: "));
        f.fields[1].value = "24h".into();
        let FormStep::Submit(edits) = f.key(EditKey::Enter, &g()) else {
            panic!()
        };
        assert!(
            matches!(&edits[0], Edit::UserRotate { grace_until: Some(t), .. } if t == "2026-01-02T00:00:00Z")
        );
    }

    #[test]
    fn endpoints_come_from_a_link_or_changed_fields_only() {
        let mut f = Form::endpoint_add();
        type_in(&mut f, "http://nope");
        f.key(EditKey::Enter, &g());
        assert!(
            f.error.as_deref().unwrap().starts_with("link: "),
            "{:?}",
            f.error
        );
        let row = xp2p_ipc::EndpointRow {
            tag: "proxy-a".into(),
            host: "a".into(),
            address: "10.0.0.1".into(),
            port: 443,
            protocol: xp2p_core::desired::model::Protocol::Trojan,
            disabled: false,
        };
        let mut f = Form::endpoint_edit(&row);
        f.key(EditKey::Enter, &g());
        assert!(f.error.as_deref().unwrap().starts_with("nothing changed"));
        f.fields[2].value = "70000".into();
        f.key(EditKey::Enter, &g());
        assert_eq!(
            f.error.as_deref(),
            Some("port: port \"70000\" is not 1-65535")
        );
        f.fields[2].value = "8443".into();
        let FormStep::Submit(edits) = f.key(EditKey::Enter, &g()) else {
            panic!()
        };
        assert_eq!(
            edits,
            vec![Edit::EndpointUpdate {
                tag: "proxy-a".into(),
                changes: EndpointChanges {
                    port: Some(Port(8443)),
                    ..EndpointChanges::default()
                }
            }]
        );
    }
}
