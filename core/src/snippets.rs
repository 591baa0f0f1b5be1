//! Operator snippets in `config-<role>/`: the four known files, their parsing and
//! the merge checks (reserved tags, collisions, dangling rule targets, rule order).
//! Every error names the file, the array index and the tag.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::desired::names::is_reserved_tag;
use crate::error::{ConfigError, ErrorCode};
use crate::layout::SNIPPET_FILES;

pub const RULES_AFTER_SYSTEM: &str = SNIPPET_FILES[0];
pub const RULES_AFTER_MANAGED: &str = SNIPPET_FILES[1];
pub const INBOUNDS_APPEND: &str = SNIPPET_FILES[2];
pub const OUTBOUNDS_APPEND: &str = SNIPPET_FILES[3];

/// Routing-rule keys that make a rule match something; a rule with none of them
/// is a catch-all.
const MATCH_KEYS: [&str; 12] = [
    "domain",
    "domains",
    "ip",
    "port",
    "sourcePort",
    "network",
    "source",
    "sourceIP",
    "user",
    "inboundTag",
    "protocol",
    "attrs",
];

/// Editor droppings that are never snippets: dotfiles and `name~` backups.
pub fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.') || name.ends_with('~')
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snippets {
    pub rules_after_system: Vec<Value>,
    pub rules_after_managed: Vec<Value>,
    pub inbounds: Vec<Value>,
    pub outbounds: Vec<Value>,
}

fn parse_array(shown: &Path, bytes: &[u8], key: &str) -> Result<Vec<Value>, ConfigError> {
    let err = |msg: String| ConfigError::new(ErrorCode::InvalidSnippet, shown, "", msg);
    let text = std::str::from_utf8(bytes).map_err(|_| err("file is not valid UTF-8".into()))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ConfigError::new(
            ErrorCode::InvalidSnippet,
            shown,
            "",
            format!("malformed JSON: {e}"),
        )
        .at(Some((e.line(), e.column())))
    })?;
    let Value::Object(mut obj) = value else {
        return Err(err(format!("expected an object {{\"{key}\": [...]}}")));
    };
    if let Some(extra) = obj.keys().find(|k| *k != key) {
        return Err(ConfigError::new(
            ErrorCode::InvalidSnippet,
            shown,
            extra.clone(),
            format!("unknown key (this file holds only `{key}`)"),
        ));
    }
    match obj.remove(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(ConfigError::new(
            ErrorCode::InvalidSnippet,
            shown,
            key,
            "must be an array",
        )),
    }
}

/// Parses the snippet files read by [`crate::digest::read_desired`].
/// `dir_shown` is how the folder is shown (`config-client`).
pub fn parse(dir_shown: &Path, files: &BTreeMap<String, Vec<u8>>) -> (Snippets, Vec<ConfigError>) {
    let mut out = Snippets::default();
    let mut errors = Vec::new();
    for (name, bytes) in files {
        let shown = dir_shown.join(name);
        let (slot, key) = match name.as_str() {
            RULES_AFTER_SYSTEM => (&mut out.rules_after_system, "rules"),
            RULES_AFTER_MANAGED => (&mut out.rules_after_managed, "rules"),
            INBOUNDS_APPEND => (&mut out.inbounds, "inbounds"),
            OUTBOUNDS_APPEND => (&mut out.outbounds, "outbounds"),
            _ => {
                errors.push(ConfigError::new(
                    ErrorCode::InvalidSnippet,
                    shown,
                    "",
                    format!(
                        "unknown snippet file (expected one of: {})",
                        SNIPPET_FILES.join(", ")
                    ),
                ));
                continue;
            }
        };
        match parse_array(&shown, bytes, key) {
            Ok(items) => *slot = items,
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}

fn tag_of(item: &Value) -> Option<&str> {
    item.get("tag")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

impl Snippets {
    /// Tags of appended outbounds that are usable as targets (valid strings only).
    pub fn outbound_tags(&self) -> Vec<String> {
        self.outbounds
            .iter()
            .filter_map(tag_of)
            .map(str::to_string)
            .collect()
    }

    /// Merge checks against what the compiler emits.
    pub fn check_merge(
        &self,
        dir_shown: &Path,
        managed_inbounds: &[String],
        managed_outbounds: &[String],
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut outbound_tags: BTreeMap<String, ()> = BTreeMap::new();
        for t in managed_outbounds {
            outbound_tags.insert(t.to_ascii_lowercase(), ());
        }
        check_items(
            &mut errors,
            dir_shown.join(INBOUNDS_APPEND),
            "inbounds",
            &self.inbounds,
            managed_inbounds,
            &mut BTreeMap::new(),
        );
        check_items(
            &mut errors,
            dir_shown.join(OUTBOUNDS_APPEND),
            "outbounds",
            &self.outbounds,
            managed_outbounds,
            &mut outbound_tags,
        );
        for (name, rules, after_system) in [
            (RULES_AFTER_SYSTEM, &self.rules_after_system, true),
            (RULES_AFTER_MANAGED, &self.rules_after_managed, false),
        ] {
            check_rules(
                &mut errors,
                dir_shown.join(name),
                rules,
                &outbound_tags,
                after_system,
            );
        }
        errors
    }
}

fn check_items(
    errors: &mut Vec<ConfigError>,
    file: PathBuf,
    key: &str,
    items: &[Value],
    managed: &[String],
    seen: &mut BTreeMap<String, ()>,
) {
    let managed_lower: Vec<String> = managed.iter().map(|t| t.to_ascii_lowercase()).collect();
    for (i, item) in items.iter().enumerate() {
        let Some(tag) = tag_of(item) else {
            errors.push(ConfigError::new(
                ErrorCode::InvalidSnippet,
                &file,
                format!("{key}[{i}]"),
                "item must be an object with a non-empty string `tag`",
            ));
            continue;
        };
        let at = format!("{key}[{i}] (tag \"{tag}\")");
        let lower = tag.to_ascii_lowercase();
        if is_reserved_tag(tag) {
            errors.push(ConfigError::new(
                ErrorCode::ReservedTag,
                &file,
                at,
                "tag is reserved for xp2p (prefix xp2p-/proxy-, suffix .rev, or a tag xp2p emits)",
            ));
        } else if managed_lower.contains(&lower) {
            errors.push(ConfigError::new(
                ErrorCode::MergeCollision,
                &file,
                at,
                "tag collides with a tag xp2p manages",
            ));
        } else if seen.insert(lower, ()).is_some() {
            errors.push(ConfigError::new(
                ErrorCode::MergeCollision,
                &file,
                at,
                "tag collides with an earlier tag (tags are case-insensitive)",
            ));
        }
    }
}

fn check_rules(
    errors: &mut Vec<ConfigError>,
    file: PathBuf,
    rules: &[Value],
    outbounds: &BTreeMap<String, ()>,
    after_system: bool,
) {
    for (i, rule) in rules.iter().enumerate() {
        let Some(obj) = rule.as_object() else {
            errors.push(ConfigError::new(
                ErrorCode::InvalidRule,
                &file,
                format!("rules[{i}]"),
                "rule must be an object",
            ));
            continue;
        };
        let label = obj
            .get("ruleTag")
            .and_then(Value::as_str)
            .map(|t| format!("rules[{i}] (ruleTag \"{t}\")"))
            .unwrap_or_else(|| format!("rules[{i}]"));
        if let Some(t) = obj.get("ruleTag").and_then(Value::as_str)
            && t.to_ascii_lowercase().starts_with("xp2p-")
        {
            errors.push(ConfigError::new(
                ErrorCode::ReservedTag,
                &file,
                label.clone(),
                "ruleTag prefix xp2p- is reserved",
            ));
        }
        match (obj.get("outboundTag"), obj.get("balancerTag")) {
            (Some(Value::String(t)), _) => {
                if !outbounds.contains_key(&t.to_ascii_lowercase()) {
                    errors.push(ConfigError::new(
                        ErrorCode::InvalidRule,
                        &file,
                        label.clone(),
                        format!("outboundTag `{t}` names no outbound"),
                    ));
                }
            }
            (None, Some(Value::String(t))) => errors.push(ConfigError::new(
                ErrorCode::InvalidRule,
                &file,
                label.clone(),
                format!("balancerTag `{t}` names no balancer (xp2p configs define none)"),
            )),
            _ => errors.push(ConfigError::new(
                ErrorCode::InvalidRule,
                &file,
                label.clone(),
                "rule needs a string outboundTag",
            )),
        }
        let has_match = MATCH_KEYS.iter().any(|k| obj.contains_key(*k));
        if !has_match && after_system {
            errors.push(ConfigError::new(
                ErrorCode::RuleOrder,
                &file,
                label,
                "catch-all rule (no match condition) here would shadow every managed rule; put it in routing.rules.after-xp2p-managed.json",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn merge_errors(pairs: &[(&str, &str)]) -> Vec<String> {
        let dir = Path::new("config-client");
        let (s, mut errs) = parse(dir, &files(pairs));
        errs.extend(s.check_merge(
            dir,
            &["socks-in".into()],
            &["proxy-a".into(), "direct".into()],
        ));
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn empty_and_missing_are_ignored() {
        assert!(merge_errors(&[("inbounds.append.json", "  \n")]).is_empty());
        assert!(merge_errors(&[("outbounds.append.json", "{}")]).is_empty());
    }

    #[test]
    fn unknown_file() {
        let e = merge_errors(&[("routes.json", "{}")]);
        assert!(
            e[0].starts_with("config-client/routes.json: unknown snippet file"),
            "{e:?}"
        );
    }

    #[test]
    fn malformed_json_has_position() {
        let e = merge_errors(&[("inbounds.append.json", "{\n \"inbounds\": [,]\n}")]);
        assert!(
            e[0].starts_with("config-client/inbounds.append.json:2:"),
            "{e:?}"
        );
        assert!(
            e[0].contains("malformed JSON") && e[0].ends_with("[invalid_snippet]"),
            "{e:?}"
        );
    }

    #[test]
    fn reserved_and_collision_name_index_and_tag() {
        let e = merge_errors(&[(
            "outbounds.append.json",
            r#"{"outbounds":[{"tag":"mine"},{"tag":"xp2p-x"},{"tag":"MINE"},{"protocol":"freedom"}]}"#,
        )]);
        assert!(e.iter().any(|l| l.starts_with("config-client/outbounds.append.json: outbounds[1] (tag \"xp2p-x\"): tag is reserved") && l.ends_with("[reserved_tag]")), "{e:?}");
        assert!(
            e.iter().any(|l| l
                .contains("outbounds[2] (tag \"MINE\"): tag collides with an earlier tag")
                && l.ends_with("[merge_collision]")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.contains("outbounds[3]: item must be an object")),
            "{e:?}"
        );
        let e = merge_errors(&[(
            "inbounds.append.json",
            r#"{"inbounds":[{"tag":"Socks-In"}]}"#,
        )]);
        assert!(e[0].contains("inbounds[0] (tag \"Socks-In\")"), "{e:?}");
    }

    #[test]
    fn dangling_outbound_and_rule_order() {
        let e = merge_errors(&[(
            "routing.rules.after-xp2p-system.json",
            r#"{"rules":[{"ruleTag":"mine","ip":["1.1.1.1"],"outboundTag":"nowhere"},{"ruleTag":"all","outboundTag":"direct"}]}"#,
        )]);
        assert!(
            e.iter().any(|l| l
                .contains("rules[0] (ruleTag \"mine\"): outboundTag `nowhere` names no outbound")
                && l.ends_with("[invalid_rule]")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|l| l.contains("rules[1] (ruleTag \"all\"): catch-all rule")
                    && l.ends_with("[rule_order]")),
            "{e:?}"
        );
        // the same catch-all after managed rules is fine
        let e = merge_errors(&[(
            "routing.rules.after-xp2p-managed.json",
            r#"{"rules":[{"outboundTag":"direct"}]}"#,
        )]);
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn appended_outbound_is_a_valid_rule_target() {
        let e = merge_errors(&[
            (
                "outbounds.append.json",
                r#"{"outbounds":[{"tag":"blackhole-out","protocol":"blackhole"}]}"#,
            ),
            (
                "routing.rules.after-xp2p-managed.json",
                r#"{"rules":[{"domain":["ads.example"],"outboundTag":"blackhole-out"}]}"#,
            ),
        ]);
        assert!(e.is_empty(), "{e:?}");
    }
}
