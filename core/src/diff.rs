//! Differences between two xray configs (Desired compiled, Live, LKG): a unified
//! text diff of the canonical pretty JSON, and a list of JSON-pointer changes.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// RFC 6901 JSON pointer.
    pub path: String,
    pub change: ChangeKind,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Canonical pretty JSON (sorted keys) of any JSON text; `Err` if it is not JSON.
pub fn canonical(text: &[u8]) -> Result<(Value, String), serde_json::Error> {
    let v: Value = serde_json::from_slice(text)?;
    let mut s = serde_json::to_string_pretty(&v)?;
    s.push('\n');
    Ok((v, s))
}

/// A unified diff (3 lines of context); empty when the texts are equal.
pub fn unified(left_name: &str, left: &str, right_name: &str, right: &str) -> String {
    if left == right {
        return String::new();
    }
    similar::TextDiff::from_lines(left, right)
        .unified_diff()
        .context_radius(3)
        .header(left_name, right_name)
        .to_string()
}

fn escape(seg: &str) -> String {
    seg.replace('~', "~0").replace('/', "~1")
}

/// Structural changes from `old` to `new`; arrays compare index by index.
pub fn changes(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), old, new, &mut out);
    out
}

fn walk(path: String, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{}", escape(k));
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => walk(p, x, y, out),
                    (Some(x), None) => out.push(Change {
                        path: p,
                        change: ChangeKind::Removed,
                        old: Some(x.clone()),
                        new: None,
                    }),
                    (None, Some(y)) => out.push(Change {
                        path: p,
                        change: ChangeKind::Added,
                        old: None,
                        new: Some(y.clone()),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}/{i}");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => walk(p, x, y, out),
                    (Some(x), None) => out.push(Change {
                        path: p,
                        change: ChangeKind::Removed,
                        old: Some(x.clone()),
                        new: None,
                    }),
                    (None, Some(y)) => out.push(Change {
                        path: p,
                        change: ChangeKind::Added,
                        old: None,
                        new: Some(y.clone()),
                    }),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a != b => out.push(Change {
            path: if path.is_empty() { "/".into() } else { path },
            change: ChangeKind::Changed,
            old: Some(a.clone()),
            new: Some(b.clone()),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_changes() {
        let a = json!({"a": 1, "list": [1, 2], "x/y": {"k": true}});
        let b = json!({"a": 2, "list": [1], "x/y": {"k": true}, "n": null});
        let c = changes(&a, &b);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].path, "/a");
        assert_eq!(c[0].change, ChangeKind::Changed);
        assert_eq!(c[1].path, "/list/1");
        assert_eq!(c[1].change, ChangeKind::Removed);
        assert_eq!(c[2].path, "/n");
        assert!(changes(&a, &a).is_empty());
    }

    #[test]
    fn unified_diff_has_headers() {
        let d = unified("live", "a\nb\n", "desired", "a\nc\n");
        assert!(
            d.contains("--- live")
                && d.contains("+++ desired")
                && d.contains("-b")
                && d.contains("+c")
        );
        assert!(unified("l", "same\n", "r", "same\n").is_empty());
    }

    #[test]
    fn escapes_pointer_segments() {
        let c = changes(&json!({"a/b~": 1}), &json!({}));
        assert_eq!(c[0].path, "/a~1b~0");
    }
}
