//! Redaction of credentials from what xp2p shows to readers who may not see
//! them: compiled core configs (JSON) and Desired TOML. Keys that hold a
//! secret anywhere in either format have their value replaced by
//! [`REDACTED`]; everything else is kept, so a redacted config still explains
//! routing, inbounds and outbounds.

use serde_json::Value;

/// What a secret value becomes.
pub const REDACTED: &str = "<redacted>";

/// Keys whose value is a credential or key material in a core config or in
/// Desired (`id` is a VLESS/VMess user id; `active_credential`,
/// `previous_credential…` are the server users' credentials; `pass` is a
/// socks/http outbound user's password in a snippet).
fn is_secret_key(key: &str) -> bool {
    matches!(
        key,
        "password"
            | "pass"
            | "id"
            | "credential"
            | "active_credential"
            | "previous_credential"
            | "previous_credential_for_rotation"
            | "privateKey"
            | "private_key"
            | "secret"
            | "preSharedKey"
            | "seed"
            | "token"
            | "key"
    ) || key.ends_with("_secret")
}

/// Replaces every secret value in a JSON document (in place).
pub fn redact_json_value(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                // `key` is a path in core configs (keyFile) but inline PEM in
                // `certificates[].key`: both are redacted, paths are harmless.
                if is_secret_key(k) && !val.is_object() && !val.is_array() {
                    *val = Value::String(REDACTED.into());
                } else {
                    redact_json_value(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json_value),
        _ => {}
    }
}

/// A compiled config's text with its secrets redacted (pretty-printed). Text
/// that is not JSON is withheld entirely rather than shown unredacted.
pub fn redact_config_json(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            redact_json_value(&mut v);
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| REDACTED.to_string())
        }
        Err(_) => format!("{REDACTED} (not JSON: {} bytes)", text.len()),
    }
}

/// A Desired TOML's text with its secrets redacted, comments and layout kept.
/// Text that does not parse is withheld entirely.
pub fn redact_toml(text: &str) -> String {
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return format!("# {REDACTED} (not TOML: {} bytes)\n", text.len());
    };
    redact_table(doc.as_table_mut());
    doc.to_string()
}

fn redact_table(t: &mut dyn toml_edit::TableLike) {
    for (k, item) in t.iter_mut() {
        redact_item(k.get(), item);
    }
}

fn redact_item(key: &str, item: &mut toml_edit::Item) {
    use toml_edit::Item;
    match item {
        Item::Value(v) if is_secret_key(key) && !v.is_array() && !v.is_inline_table() => {
            let decor = v.decor().clone();
            *v = toml_edit::Value::from(REDACTED);
            *v.decor_mut() = decor;
        }
        Item::Value(toml_edit::Value::InlineTable(it)) => redact_table(it),
        Item::Value(toml_edit::Value::Array(a)) => {
            for v in a.iter_mut() {
                if let toml_edit::Value::InlineTable(it) = v {
                    redact_table(it);
                }
            }
        }
        Item::Table(t) => redact_table(t),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| redact_table(t)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_secrets_are_redacted_and_the_rest_kept() {
        let text = r#"{"inbounds":[{"tag":"trojan-in","settings":{"clients":[{"password":"s3cret","email":"a@x"}]}}],
            "outbounds":[{"protocol":"vless","settings":{"vnext":[{"address":"h","users":[{"id":"uuid-secret","encryption":"none"}]}]}}]}"#;
        let out = redact_config_json(text);
        assert!(
            !out.contains("s3cret") && !out.contains("uuid-secret"),
            "{out}"
        );
        assert!(out.contains("trojan-in") && out.contains("a@x") && out.contains(REDACTED));
        assert!(!redact_config_json("not json s3cret").contains("s3cret"));
    }

    #[test]
    fn toml_secrets_are_redacted_with_comments_kept() {
        let text = "# mine\n[server]\nhost = \"h\"\n\n[[server.users]]\nuser_label = \"alice\" # who\ncredential = \"s3cret\"\n\n[client]\nendpoints = [{ password = \"p4ss\", tag = \"t\" }]\n";
        let out = redact_toml(text);
        assert!(!out.contains("s3cret") && !out.contains("p4ss"), "{out}");
        assert!(out.contains("# mine") && out.contains("# who") && out.contains("alice"));
        assert!(!redact_toml("password = [unclosed s3cret").contains("s3cret"));
    }
}
