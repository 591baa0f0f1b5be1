//! Routing-rule construction: stable `ruleTag`s and the managed redirect order.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::desired::Redirect;
use crate::role::Role;

/// `"xp2p-" + first 16 hex of sha256(role, kind, parts…)` over trimmed, lowercased,
/// non-empty parts joined by NUL: stable across compiles.
pub fn rule_tag(role: Role, kind: &str, parts: &[&str]) -> String {
    let mut all: Vec<String> = vec![role.as_str().to_string(), kind.to_string()];
    all.extend(
        parts
            .iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty()),
    );
    let digest = Sha256::digest(all.join("\0").as_bytes());
    format!("xp2p-{}", &hex::encode(digest)[..16])
}

/// A field rule with its tag.
pub fn field_rule(tag: String, matcher: Value, outbound: &str) -> Value {
    let mut rule = json!({"type": "field", "ruleTag": tag, "outboundTag": outbound});
    if let (Some(obj), Value::Object(m)) = (rule.as_object_mut(), matcher) {
        obj.extend(m);
    }
    rule
}

/// Redirect rules sorted: domain before CIDR, longer prefix first, then value, then tag.
pub fn redirect_rules(role: Role, redirects: &[Redirect]) -> Vec<Value> {
    let mut keyed: Vec<(u8, u8, String, &str, Value)> = redirects
        .iter()
        .map(|r| match (&r.domain, &r.cidr) {
            (Some(d), _) => {
                let matcher = if d.contains(':') {
                    d.clone()
                } else {
                    format!("domain:{d}")
                };
                let tag = rule_tag(role, "redirect", &[&r.outbound_tag, "domain", d]);
                (
                    0,
                    0,
                    d.to_ascii_lowercase(),
                    r.outbound_tag.as_str(),
                    field_rule(tag, json!({"domain": [matcher]}), &r.outbound_tag),
                )
            }
            (None, Some(c)) => {
                let value = c.to_string();
                let tag = rule_tag(role, "redirect", &[&r.outbound_tag, "cidr", &value]);
                (
                    1,
                    // longer prefix first
                    u8::MAX - c.0.prefix_len(),
                    value.clone(),
                    r.outbound_tag.as_str(),
                    field_rule(tag, json!({"ip": [value]}), &r.outbound_tag),
                )
            }
            (None, None) => unreachable_redirect(),
        })
        .collect();
    keyed.sort_by(|a, b| (a.0, a.1, &a.2, a.3).cmp(&(b.0, b.1, &b.2, b.3)));
    keyed.into_iter().map(|k| k.4).collect()
}

/// Validation guarantees exactly one of cidr/domain; an impossible redirect
/// compiles to a rule that matches nothing rather than panicking.
fn unreachable_redirect() -> (u8, u8, String, &'static str, Value) {
    (
        2,
        0,
        String::new(),
        "",
        json!({"type": "field", "ip": [], "outboundTag": "direct"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Cidr;

    fn cidr(s: &str) -> Redirect {
        Redirect {
            cidr: Some(Cidr(s.parse().unwrap())),
            domain: None,
            outbound_tag: "proxy-a".into(),
        }
    }

    #[test]
    fn tags_are_stable_and_case_insensitive() {
        let a = rule_tag(Role::Client, "redirect", &["proxy-a", "cidr", "10.0.0.0/8"]);
        assert_eq!(
            a,
            rule_tag(
                Role::Client,
                "redirect",
                &["PROXY-A ", "cidr", "10.0.0.0/8"]
            )
        );
        assert_eq!(a.len(), 5 + 16);
        assert_ne!(
            a,
            rule_tag(Role::Server, "redirect", &["proxy-a", "cidr", "10.0.0.0/8"])
        );
    }

    #[test]
    fn order_domain_first_then_longest_prefix() {
        let rs = vec![
            cidr("10.0.0.0/8"),
            Redirect {
                cidr: None,
                domain: Some("b.example".into()),
                outbound_tag: "proxy-a".into(),
            },
            cidr("10.20.0.0/16"),
            cidr("10.1.0.0/16"),
        ];
        let rules = redirect_rules(Role::Client, &rs);
        let keys: Vec<String> = rules
            .iter()
            .map(|r| {
                r.get("ip").or(r.get("domain")).unwrap()[0]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            keys,
            [
                "domain:b.example",
                "10.1.0.0/16",
                "10.20.0.0/16",
                "10.0.0.0/8"
            ]
        );
    }
}
