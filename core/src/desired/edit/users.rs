//! Server users (`[[server.users]]`): add, rotate (with a grace for the old
//! credential), enable/disable, remove.

use super::doc;
use super::{Created, EditError, State};

const KEY: &str = "server.users";

/// The file index of the user labelled `label` (case-insensitive, as the
/// validator compares labels).
fn find(st: &State<'_>, label: &str) -> Result<usize, EditError> {
    st.server()?
        .server
        .users
        .iter()
        .position(|u| u.user_label.eq_ignore_ascii_case(label))
        .ok_or_else(|| EditError::not_found(KEY, format!("no user labelled \"{label}\"")))
}

fn user_mut<'a>(
    st: &'a mut State<'_>,
    i: usize,
) -> Result<&'a mut dyn toml_edit::TableLike, EditError> {
    doc::entry(st.section()?, "users", i)
        .ok_or_else(|| EditError::conflict(KEY, format!("entry {i} is not a table")))
}

pub fn add(st: &mut State<'_>, label: &str, credential: &str) -> Result<(), EditError> {
    let label = label.trim();
    if label.is_empty() {
        return Err(EditError::usage("LABEL", "a user label must not be empty"));
    }
    if credential.is_empty() {
        return Err(EditError::usage(
            "--credential",
            "a credential must not be empty",
        ));
    }
    if find(st, label).is_ok() {
        return Err(EditError::conflict(
            KEY,
            format!("a user labelled \"{label}\" already exists"),
        ));
    }
    let t = doc::table(vec![
        ("user_label", label.into()),
        ("credential", credential.into()),
        ("created_at", st.now.into()),
    ]);
    doc::push(st.section()?, "users", t).map_err(|e| EditError::conflict(KEY, e))?;
    st.done(format!("added user {label}"));
    st.created.push(Created::User {
        label: label.to_string(),
        credential: credential.to_string(),
    });
    Ok(())
}

pub fn rotate(
    st: &mut State<'_>,
    label: &str,
    new_credential: &str,
    grace_until: Option<&str>,
) -> Result<(), EditError> {
    let i = find(st, label)?;
    let user = st.server()?.server.users.swap_remove(i);
    if new_credential.is_empty() {
        return Err(EditError::usage(
            "--credential",
            "a credential must not be empty",
        ));
    }
    if new_credential == user.credential {
        return Err(EditError::usage(
            "--credential",
            format!("user \"{label}\" already has this credential"),
        ));
    }
    if let Some(t) = grace_until
        && humantime::parse_rfc3339_weak(t).is_err()
    {
        return Err(EditError::usage(
            "--grace",
            format!("`{t}` is not an RFC 3339 UTC time"),
        ));
    }
    let now = st.now.to_string();
    let t = user_mut(st, i)?;
    doc::set(t, "credential", new_credential);
    match grace_until {
        Some(until) => {
            doc::set(t, "previous_credential", user.credential.as_str());
            doc::set(t, "rotation_expires_at", until);
        }
        None => {
            doc::unset(t, "previous_credential");
            doc::unset(t, "rotation_expires_at");
        }
    }
    doc::set(t, "rotated_at", now.as_str());
    st.done(match grace_until {
        Some(until) => format!(
            "rotated user {}; the old credential works until {until}",
            user.user_label
        ),
        None => format!("rotated user {}", user.user_label),
    });
    st.created.push(Created::User {
        label: user.user_label,
        credential: new_credential.to_string(),
    });
    Ok(())
}

pub fn set_disabled(st: &mut State<'_>, label: &str, disabled: bool) -> Result<(), EditError> {
    let i = find(st, label)?;
    let name = st.server()?.server.users[i].user_label.clone();
    let t = user_mut(st, i)?;
    if disabled {
        doc::set(t, "disabled", true);
    } else if t.contains_key("disabled") {
        doc::set(t, "disabled", false);
    }
    st.done(format!(
        "{} user {name}",
        if disabled { "disabled" } else { "enabled" }
    ));
    Ok(())
}

pub fn remove(st: &mut State<'_>, label: &str) -> Result<(), EditError> {
    let i = find(st, label)?;
    let name = st.server()?.server.users[i].user_label.clone();
    let channels = super::reverse::channels_of(&st.server()?, &name);
    if !channels.is_empty() {
        return Err(EditError::conflict(
            KEY,
            format!(
                "user \"{name}\" still has reverse channel {}; remove it first or remove the user with its channels",
                channels.join(", ")
            ),
        ));
    }
    doc::remove(st.section()?, "users", i);
    st.done(format!("removed user {name}"));
    Ok(())
}
