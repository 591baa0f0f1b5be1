//! `toml_edit` helpers of the editor: set a key keeping its comments and the
//! value's trailing comment, and push/remove/reach entries of a list written
//! either as `[[a.b]]` tables or as an inline array.

use toml_edit::{ArrayOfTables, Item, Table, TableLike, Value};

/// Sets `key` to `v`. An existing key keeps its place, the comments above it
/// and the comment after its value; a new key goes at the end of the table.
pub fn set(t: &mut dyn TableLike, key: &str, v: impl Into<Value>) {
    let mut new: Value = v.into();
    if let Some(old) = t.get_mut(key).and_then(Item::as_value_mut) {
        *new.decor_mut() = old.decor().clone();
        *old = new;
        return;
    }
    t.insert(key, Item::Value(new));
}

/// Removes `key` (with the comments above it) if present.
pub fn unset(t: &mut dyn TableLike, key: &str) {
    t.remove(key);
}

/// Entry `i` of the list `key`, as a table.
pub fn entry<'a>(
    parent: &'a mut dyn TableLike,
    key: &str,
    i: usize,
) -> Option<&'a mut dyn TableLike> {
    match parent.get_mut(key)? {
        Item::ArrayOfTables(a) => a.get_mut(i).map(|t| t as &mut dyn TableLike),
        Item::Value(Value::Array(a)) => a
            .get_mut(i)?
            .as_inline_table_mut()
            .map(|t| t as &mut dyn TableLike),
        _ => None,
    }
}

/// Removes entry `i` of the list `key`: a `[[…]]` table goes with the comments
/// above its header; the list itself stays (an empty `[]` for an inline one).
pub fn remove(parent: &mut dyn TableLike, key: &str, i: usize) -> bool {
    match parent.get_mut(key) {
        Some(Item::ArrayOfTables(a)) if i < a.len() => {
            a.remove(i);
            true
        }
        Some(Item::Value(Value::Array(a))) if i < a.len() => {
            a.remove(i);
            true
        }
        _ => false,
    }
}

/// Appends `t` to the list `key` in the style the file uses (a new list is
/// written as `[[…]]` tables, after the role's last table).
pub fn push(parent: &mut dyn TableLike, key: &str, t: Table) -> Result<(), String> {
    match parent.get_mut(key) {
        None => {
            let mut aot = ArrayOfTables::new();
            aot.push(t);
            parent.insert(key, Item::ArrayOfTables(aot));
            Ok(())
        }
        Some(Item::ArrayOfTables(aot)) => {
            aot.push(t);
            Ok(())
        }
        Some(Item::Value(Value::Array(arr))) => {
            arr.push(t.into_inline_table());
            Ok(())
        }
        Some(_) => Err(format!("`{key}` is not a list")),
    }
}

/// A fresh table for a list entry, its keys in the given order.
pub fn table(pairs: Vec<(&str, Value)>) -> Table {
    let mut t = Table::new();
    for (k, v) in pairs {
        t.insert(k, Item::Value(v));
    }
    t
}
