//! Unit tests of the pure reducer `xp2p_ui::state::reduce`: one or more tests per
//! `Action` variant, checking the state it leaves and the effects it queues.

use serde_json::json;
use xp2p_core::Role;
use xp2p_store::status::{CoreView, RoleView};
use xp2p_ui::state::{
    Action, AttemptRow, Confirm, Conn, DIFF_PAIRS, DiffText, Effect, LOG_LINES, LiveAttempt,
    LoadedDiff, State, StatusMsg, View, reduce,
};

const NOT_RUNNING: &str = "the service is not running (start it: xp2p service run)";

/// A minimal role as the status snapshot would describe a stopped core.
fn role_view(role: Role) -> RoleView {
    RoleView {
        role,
        desired_present: true,
        desired_digest: Some("d".repeat(64)),
        desired_changed: false,
        live: None,
        lkg: None,
        pending_request: None,
        error: None,
        last_attempt: None,
        core: CoreView {
            display: xp2p_core::status::DisplayState::Stopped,
            pid: None,
            uptime_s: None,
            config_sha256: None,
            reason_code: None,
            detail: None,
            inbounds: Vec::new(),
        },
        tun_phase: xp2p_core::tunstate::Phase::Disabled,
        tun: None,
        tunnels: Vec::new(),
        channels: Vec::new(),
    }
}

fn both_roles() -> Vec<RoleView> {
    vec![role_view(Role::Client), role_view(Role::Server)]
}

/// Connected, both roles present, `client` selected, no pending effects.
fn online() -> State {
    State {
        conn: Conn::Online { pid: 4242 },
        roles: both_roles(),
        role: Some(Role::Client),
        ..State::default()
    }
}

fn offline() -> State {
    State {
        conn: Conn::Offline {
            reason: "connection refused".into(),
        },
        ..online()
    }
}

fn in_view(view: View) -> State {
    State { view, ..online() }
}

fn diff_of(role: Role, pair: usize, lines: usize) -> LoadedDiff {
    LoadedDiff {
        role,
        pair,
        result: Ok(DiffText {
            lines: (0..lines).map(|i| format!(" line {i}")).collect(),
            changed_paths: vec!["changed outbounds[0].tag".into()],
        }),
    }
}

fn row(n: usize) -> AttemptRow {
    AttemptRow {
        attempt_id: format!("attempt-{n}"),
        role: Role::Client,
        request_id: format!("request-{n}"),
        ts: "2020-01-01T00:00:00Z".into(),
        outcome: "committed".into(),
        duration_ms: Some(100),
        error: None,
        detail: None,
        phases: Vec::new(),
    }
}

fn journal_state(rows: usize) -> State {
    State {
        journal: (0..rows).map(row).collect(),
        ..in_view(View::Journal)
    }
}

fn logs_state(lines: usize) -> State {
    State {
        logs_role: Some(Role::Client),
        logs: (0..lines).map(|i| format!("log {i}")).collect(),
        ..in_view(View::Logs)
    }
}

fn steps(mut s: State, actions: impl IntoIterator<Item = Action>) -> State {
    for a in actions {
        s = reduce(s, a);
    }
    s
}

fn status(s: &State) -> (&str, bool) {
    let m = s.status.as_ref().expect("a status line");
    (m.text.as_str(), m.error)
}

fn event(s: State, ev: serde_json::Value) -> State {
    reduce(s, Action::ServiceEvent(ev))
}

// ---- Quit, Show, NextRole, ToggleHelp -------------------------------------

#[test]
fn quit_sets_the_flag_and_nothing_else() {
    let s = reduce(online(), Action::Quit);
    assert!(s.quit);
    assert!(s.effects.is_empty());
    assert_eq!(State { quit: false, ..s }, online());
}

#[test]
fn show_dashboard_queues_nothing_and_closes_help() {
    let s = reduce(
        State {
            view: View::Logs,
            help: true,
            ..online()
        },
        Action::Show(View::Dashboard),
    );
    assert_eq!(s.view, View::Dashboard);
    assert!(!s.help);
    assert!(s.effects.is_empty());
}

#[test]
fn show_diff_loads_the_current_pair() {
    let s = reduce(
        State {
            diff_pair: 2,
            ..online()
        },
        Action::Show(View::Diff),
    );
    assert_eq!(s.view, View::Diff);
    assert_eq!(
        s.effects,
        vec![Effect::LoadDiff {
            role: Role::Client,
            pair: 2
        }]
    );
}

#[test]
fn show_journal_loads_the_journal() {
    let s = reduce(online(), Action::Show(View::Journal));
    assert_eq!(s.view, View::Journal);
    assert_eq!(s.effects, vec![Effect::LoadJournal]);
}

#[test]
fn show_logs_loads_the_role_log_and_resets_for_a_new_role() {
    let s = reduce(online(), Action::Show(View::Logs));
    assert_eq!(s.view, View::Logs);
    assert_eq!(s.logs_role, Some(Role::Client));
    assert_eq!(s.effects, vec![Effect::LoadLogs(Role::Client)]);

    // Same role: the lines and the scroll position are kept.
    let kept = reduce(
        State {
            view: View::Dashboard,
            logs_back: 3,
            ..logs_state(10)
        },
        Action::Show(View::Logs),
    );
    assert_eq!(kept.logs.len(), 10);
    assert_eq!(kept.logs_back, 3);

    // Another role's lines are dropped.
    let switched = reduce(
        State {
            view: View::Dashboard,
            logs_role: Some(Role::Server),
            logs_back: 3,
            ..logs_state(10)
        },
        Action::Show(View::Logs),
    );
    assert!(switched.logs.is_empty());
    assert_eq!(switched.logs_back, 0);
    assert_eq!(switched.logs_role, Some(Role::Client));
    assert_eq!(switched.effects, vec![Effect::LoadLogs(Role::Client)]);
}

#[test]
fn show_without_a_role_queues_nothing() {
    for view in [View::Dashboard, View::Diff, View::Journal, View::Logs] {
        let s = reduce(State::default(), Action::Show(view));
        assert_eq!(s.view, view);
        assert!(s.effects.is_empty(), "{view:?}");
    }
}

#[test]
fn next_role_cycles_and_reloads_the_view() {
    let s = reduce(
        State {
            diff_scroll: 7,
            ..in_view(View::Diff)
        },
        Action::NextRole,
    );
    assert_eq!(s.role, Some(Role::Server));
    assert_eq!(s.diff_scroll, 0);
    assert_eq!(
        s.effects,
        vec![Effect::LoadDiff {
            role: Role::Server,
            pair: 0
        }]
    );
    let s = reduce(
        State {
            effects: vec![],
            ..s
        },
        Action::NextRole,
    );
    assert_eq!(s.role, Some(Role::Client));

    // On the dashboard: nothing to load.
    let s = reduce(online(), Action::NextRole);
    assert_eq!(s.role, Some(Role::Server));
    assert!(s.effects.is_empty());

    // In Logs: the log of the new role.
    let s = reduce(logs_state(5), Action::NextRole);
    assert_eq!(s.logs_role, Some(Role::Server));
    assert!(s.logs.is_empty());
    assert_eq!(s.effects, vec![Effect::LoadLogs(Role::Server)]);
}

#[test]
fn next_role_from_none_or_a_vanished_role_picks_the_first() {
    let s = reduce(
        State {
            role: None,
            ..online()
        },
        Action::NextRole,
    );
    assert_eq!(s.role, Some(Role::Client));

    let s = reduce(
        State {
            roles: vec![role_view(Role::Client)],
            role: Some(Role::Server),
            ..online()
        },
        Action::NextRole,
    );
    assert_eq!(s.role, Some(Role::Client));

    // A single role stays selected.
    let s = reduce(
        State {
            roles: vec![role_view(Role::Server)],
            role: Some(Role::Server),
            ..online()
        },
        Action::NextRole,
    );
    assert_eq!(s.role, Some(Role::Server));
}

#[test]
fn next_role_without_roles_does_nothing() {
    let before = State {
        view: View::Diff,
        ..State::default()
    };
    assert_eq!(reduce(before.clone(), Action::NextRole), before);
}

#[test]
fn toggle_help_flips() {
    let s = reduce(online(), Action::ToggleHelp);
    assert!(s.help);
    let s = reduce(s, Action::ToggleHelp);
    assert!(!s.help);
    assert!(s.effects.is_empty());
}

// ---- Escape ----------------------------------------------------------------

#[test]
fn escape_closes_help_first_then_confirm_then_detail_then_quits() {
    let s = State {
        help: true,
        confirm: Some(Confirm::Rollback(Role::Client)),
        journal_open: true,
        ..journal_state(2)
    };
    let s = reduce(s, Action::Escape);
    assert!(!s.help);
    assert!(s.confirm.is_some() && s.journal_open && !s.quit);
    assert_eq!(s.status, None);

    let s = reduce(s, Action::Escape);
    assert_eq!(s.confirm, None);
    assert_eq!(status(&s), ("cancelled", false));
    assert!(s.journal_open && !s.quit);
    assert!(
        s.effects.is_empty(),
        "a cancelled confirmation sends nothing"
    );

    let s = reduce(s, Action::Escape);
    assert!(!s.journal_open);
    assert!(!s.quit);

    let s = reduce(s, Action::Escape);
    assert!(s.quit);
}

#[test]
fn escape_on_a_plain_screen_quits() {
    assert!(reduce(State::default(), Action::Escape).quit);
}

// ---- Scrolling ---------------------------------------------------------------

#[test]
fn diff_scroll_moves_within_the_lines() {
    // 80x24: the body has 24 - 6 = 18 rows.
    let base = State {
        diff: Some(diff_of(Role::Client, 0, 50)),
        ..in_view(View::Diff)
    };
    let s = reduce(base.clone(), Action::Down);
    assert_eq!(s.diff_scroll, 1);
    let s = reduce(s, Action::Up);
    assert_eq!(s.diff_scroll, 0);
    let s = reduce(s, Action::Up);
    assert_eq!(s.diff_scroll, 0, "never above the top");
    let s = reduce(s, Action::PageDown);
    assert_eq!(s.diff_scroll, 18);
    let s = reduce(s, Action::PageDown);
    assert_eq!(s.diff_scroll, 36);
    let s = reduce(s, Action::PageDown);
    assert_eq!(s.diff_scroll, 49, "stops at the last line");
    let s = reduce(s, Action::Down);
    assert_eq!(s.diff_scroll, 49);
    let s = reduce(s, Action::PageUp);
    assert_eq!(s.diff_scroll, 31);
    let s = reduce(s, Action::Home);
    assert_eq!(s.diff_scroll, 0);
    let s = reduce(s, Action::End);
    assert_eq!(s.diff_scroll, 49);
    assert!(s.effects.is_empty());
    // Untouched elsewhere.
    assert_eq!(s.journal_selected, 0);
    assert_eq!(s.logs_back, 0);
}

#[test]
fn page_size_follows_the_terminal_height() {
    let s = State {
        diff: Some(diff_of(Role::Client, 0, 500)),
        ..in_view(View::Diff)
    };
    let s = steps(s, [Action::Resize(120, 40), Action::PageDown]);
    assert_eq!(s.diff_scroll, 34);
    // A tiny terminal still pages by at least one line.
    let s = steps(s, [Action::Resize(20, 3), Action::PageUp]);
    assert_eq!(s.diff_scroll, 33);
}

#[test]
fn diff_scroll_without_lines_stays_at_zero() {
    for diff in [
        None,
        Some(LoadedDiff {
            role: Role::Client,
            pair: 0,
            result: Err("Desired does not compile: x".into()),
        }),
        Some(diff_of(Role::Client, 0, 0)),
    ] {
        let s = steps(
            State {
                diff,
                ..in_view(View::Diff)
            },
            [Action::Down, Action::PageDown, Action::End],
        );
        assert_eq!(s.diff_scroll, 0);
    }
}

#[test]
fn journal_selection_moves_within_the_rows() {
    let s = journal_state(30);
    let s = reduce(s, Action::Down);
    assert_eq!(s.journal_selected, 1);
    let s = reduce(s, Action::Up);
    assert_eq!(s.journal_selected, 0);
    let s = reduce(s, Action::Up);
    assert_eq!(s.journal_selected, 0);
    let s = reduce(s, Action::PageDown);
    assert_eq!(s.journal_selected, 18);
    let s = reduce(s, Action::PageDown);
    assert_eq!(s.journal_selected, 29);
    let s = reduce(s, Action::PageUp);
    assert_eq!(s.journal_selected, 11);
    let s = reduce(s, Action::End);
    assert_eq!(s.journal_selected, 29);
    let s = reduce(s, Action::Home);
    assert_eq!(s.journal_selected, 0);
    assert_eq!(s.diff_scroll, 0);
    assert!(s.effects.is_empty());
}

#[test]
fn journal_selection_is_frozen_while_an_attempt_is_open() {
    let s = State {
        journal_open: true,
        journal_selected: 3,
        ..journal_state(10)
    };
    let s = steps(
        s,
        [
            Action::Down,
            Action::Up,
            Action::PageDown,
            Action::Home,
            Action::End,
        ],
    );
    assert_eq!(s.journal_selected, 3);
}

#[test]
fn journal_scroll_on_an_empty_journal_stays_at_zero() {
    let s = steps(
        journal_state(0),
        [Action::Down, Action::End, Action::PageDown],
    );
    assert_eq!(s.journal_selected, 0);
}

#[test]
fn logs_up_scrolls_back_and_end_follows() {
    let s = logs_state(100);
    assert_eq!(s.logs_back, 0, "following by default");
    let s = reduce(s, Action::Up);
    assert_eq!(s.logs_back, 1);
    let s = reduce(s, Action::Up);
    assert_eq!(s.logs_back, 2);
    let s = reduce(s, Action::Down);
    assert_eq!(s.logs_back, 1);
    let s = reduce(s, Action::Down);
    assert_eq!(s.logs_back, 0);
    let s = reduce(s, Action::Down);
    assert_eq!(s.logs_back, 0, "never past the end");
    let s = reduce(s, Action::PageUp);
    assert_eq!(s.logs_back, 18);
    let s = reduce(s, Action::PageDown);
    assert_eq!(s.logs_back, 0);
    let s = reduce(s, Action::Home);
    assert_eq!(s.logs_back, 99, "Home: the first line at the bottom");
    let s = reduce(s, Action::Up);
    assert_eq!(s.logs_back, 99);
    let s = reduce(s, Action::End);
    assert_eq!(s.logs_back, 0, "End follows again");
    assert!(s.effects.is_empty());
}

#[test]
fn logs_scroll_without_lines_stays_following() {
    let s = steps(logs_state(0), [Action::Up, Action::PageUp, Action::Home]);
    assert_eq!(s.logs_back, 0);
}

#[test]
fn scrolling_on_the_dashboard_changes_nothing() {
    let before = State {
        diff: Some(diff_of(Role::Client, 0, 50)),
        journal: (0..5).map(row).collect(),
        logs: (0..5).map(|i| i.to_string()).collect(),
        ..online()
    };
    let after = steps(
        before.clone(),
        [
            Action::Down,
            Action::Up,
            Action::PageDown,
            Action::PageUp,
            Action::End,
            Action::Home,
            Action::Down,
        ],
    );
    assert_eq!(after, before);
}

// ---- NextPair / PrevPair / Enter --------------------------------------------------

#[test]
fn pairs_cycle_in_the_diff_view() {
    let s = State {
        diff_scroll: 5,
        ..in_view(View::Diff)
    };
    let s = reduce(s, Action::NextPair);
    assert_eq!(s.diff_pair, 1);
    assert_eq!(s.diff_scroll, 0);
    assert_eq!(
        s.effects,
        vec![Effect::LoadDiff {
            role: Role::Client,
            pair: 1
        }]
    );
    let s = steps(s, [Action::NextPair, Action::NextPair]);
    assert_eq!(s.diff_pair, 0, "wraps after {} pairs", DIFF_PAIRS.len());
    let s = reduce(s, Action::PrevPair);
    assert_eq!(s.diff_pair, DIFF_PAIRS.len() - 1);
    assert_eq!(
        s.effects.last(),
        Some(&Effect::LoadDiff {
            role: Role::Client,
            pair: 2
        })
    );
    let s = reduce(s, Action::PrevPair);
    assert_eq!(s.diff_pair, 1);
    assert_eq!(s.effects.len(), 5);
}

#[test]
fn pairs_do_nothing_outside_the_diff_view() {
    for view in [View::Dashboard, View::Journal, View::Logs] {
        let before = in_view(view);
        assert_eq!(reduce(before.clone(), Action::NextPair), before);
        assert_eq!(reduce(before.clone(), Action::PrevPair), before);
    }
}

#[test]
fn enter_toggles_the_journal_detail() {
    let s = reduce(journal_state(3), Action::Enter);
    assert!(s.journal_open);
    let s = reduce(s, Action::Enter);
    assert!(!s.journal_open);
    assert!(s.effects.is_empty());
}

#[test]
fn enter_does_nothing_on_an_empty_journal_or_in_other_views() {
    assert!(!reduce(journal_state(0), Action::Enter).journal_open);
    for view in [View::Dashboard, View::Diff, View::Logs] {
        let before = State {
            journal: (0..3).map(row).collect(),
            ..in_view(view)
        };
        assert_eq!(reduce(before.clone(), Action::Enter), before);
    }
}

// ---- Apply / Rollback / Restart / confirmations ---------------------------------

#[test]
fn apply_online_sends_at_once() {
    let s = reduce(online(), Action::Apply);
    assert_eq!(s.effects, vec![Effect::SendApply(Role::Client)]);
    assert_eq!(status(&s), ("client: apply requested", false));
    assert_eq!(s.confirm, None);
}

#[test]
fn apply_offline_or_connecting_says_why_and_sends_nothing() {
    for conn in [
        Conn::Offline {
            reason: "connection refused".into(),
        },
        Conn::Connecting,
    ] {
        let s = reduce(State { conn, ..online() }, Action::Apply);
        assert!(s.effects.is_empty());
        assert_eq!(status(&s), (&*format!("cannot apply: {NOT_RUNNING}"), true));
    }
}

#[test]
fn apply_without_a_role_does_nothing() {
    let before = State {
        role: None,
        ..online()
    };
    assert_eq!(reduce(before.clone(), Action::Apply), before);
    let before = State {
        role: None,
        ..offline()
    };
    assert_eq!(reduce(before.clone(), Action::Apply), before);
}

#[test]
fn rollback_online_asks_first() {
    let s = reduce(online(), Action::Rollback);
    assert_eq!(s.confirm, Some(Confirm::Rollback(Role::Client)));
    assert!(s.effects.is_empty(), "nothing is sent before y");
    assert_eq!(s.status, None);
}

#[test]
fn rollback_offline_says_why() {
    let s = reduce(offline(), Action::Rollback);
    assert_eq!(s.confirm, None);
    assert!(s.effects.is_empty());
    assert_eq!(
        status(&s),
        (&*format!("cannot roll back: {NOT_RUNNING}"), true)
    );
}

#[test]
fn restart_online_asks_first() {
    let s = reduce(
        State {
            role: Some(Role::Server),
            ..online()
        },
        Action::Restart,
    );
    assert_eq!(s.confirm, Some(Confirm::Restart(Role::Server)));
    assert!(s.effects.is_empty());
}

#[test]
fn restart_offline_says_why() {
    let s = reduce(offline(), Action::Restart);
    assert_eq!(s.confirm, None);
    assert!(s.effects.is_empty());
    assert_eq!(
        status(&s),
        (&*format!("cannot restart the core: {NOT_RUNNING}"), true)
    );
}

#[test]
fn rollback_and_restart_without_a_role_do_nothing() {
    for a in [Action::Rollback, Action::Restart] {
        let before = State {
            role: None,
            ..online()
        };
        assert_eq!(reduce(before.clone(), a), before);
    }
}

#[test]
fn confirm_yes_sends_the_confirmed_command() {
    let s = steps(online(), [Action::Rollback, Action::ConfirmYes]);
    assert_eq!(s.confirm, None);
    assert_eq!(s.effects, vec![Effect::SendRollback(Role::Client)]);
    assert_eq!(status(&s), ("client: rollback requested", false));

    let s = steps(
        State {
            role: Some(Role::Server),
            ..online()
        },
        [Action::Restart, Action::ConfirmYes],
    );
    assert_eq!(s.confirm, None);
    assert_eq!(s.effects, vec![Effect::SendRestart(Role::Server)]);
    assert_eq!(status(&s), ("server: restart requested", false));
}

#[test]
fn confirm_yes_without_a_question_does_nothing() {
    assert_eq!(reduce(online(), Action::ConfirmYes), online());
}

#[test]
fn confirm_no_cancels() {
    for a in [Action::Rollback, Action::Restart] {
        let s = steps(online(), [a, Action::ConfirmNo]);
        assert_eq!(s.confirm, None);
        assert!(s.effects.is_empty());
        assert_eq!(status(&s), ("cancelled", false));
    }
    // Without a question there is nothing to cancel and nothing to say.
    assert_eq!(reduce(online(), Action::ConfirmNo), online());
}

// ---- Resize, connection, snapshots ----------------------------------------------

#[test]
fn resize_records_the_size() {
    let s = reduce(State::default(), Action::Resize(132, 50));
    assert_eq!(s.size, (132, 50));
    assert!(s.effects.is_empty());
}

#[test]
fn connected_goes_online_refreshes_and_reloads_the_view() {
    let s = reduce(
        State {
            conn: Conn::Connecting,
            ..online()
        },
        Action::Connected { pid: 99 },
    );
    assert_eq!(s.conn, Conn::Online { pid: 99 });
    assert_eq!(s.effects, vec![Effect::RefreshStatus]);

    let s = reduce(
        State {
            view: View::Journal,
            ..offline()
        },
        Action::Connected { pid: 7 },
    );
    assert_eq!(s.conn, Conn::Online { pid: 7 });
    assert_eq!(s.effects, vec![Effect::RefreshStatus, Effect::LoadJournal]);

    let s = reduce(
        State {
            view: View::Diff,
            diff_pair: 1,
            ..State::default()
        },
        Action::Connected { pid: 7 },
    );
    assert_eq!(
        s.effects,
        vec![Effect::RefreshStatus],
        "no role yet: nothing to load"
    );
}

#[test]
fn disconnected_goes_offline_with_the_reason() {
    let s = reduce(online(), Action::Disconnected("connection refused".into()));
    assert_eq!(
        s.conn,
        Conn::Offline {
            reason: "connection refused".into()
        }
    );
    assert!(s.effects.is_empty());
    // The same reason again leaves the state alone; a new one replaces it.
    let again = reduce(s.clone(), Action::Disconnected("connection refused".into()));
    assert_eq!(again, s);
    let other = reduce(s, Action::Disconnected("no such file".into()));
    assert_eq!(
        other.conn,
        Conn::Offline {
            reason: "no such file".into()
        }
    );
}

#[test]
fn first_snapshot_selects_the_first_role_and_loads_the_view() {
    let s = reduce(
        State {
            view: View::Diff,
            ..State::default()
        },
        Action::Snapshot(both_roles()),
    );
    assert_eq!(s.roles, both_roles());
    assert_eq!(s.role, Some(Role::Client));
    assert_eq!(
        s.effects,
        vec![Effect::LoadDiff {
            role: Role::Client,
            pair: 0
        }]
    );
    // On the dashboard: nothing to load.
    let s = reduce(State::default(), Action::Snapshot(both_roles()));
    assert_eq!(s.role, Some(Role::Client));
    assert!(s.effects.is_empty());
}

#[test]
fn snapshot_keeps_a_valid_selection() {
    let s = reduce(
        State {
            role: Some(Role::Server),
            view: View::Diff,
            ..online()
        },
        Action::Snapshot(both_roles()),
    );
    assert_eq!(s.role, Some(Role::Server));
    assert!(s.effects.is_empty(), "not a first selection: no reload");
}

#[test]
fn snapshot_replaces_a_vanished_selection() {
    let s = reduce(
        State {
            role: Some(Role::Server),
            view: View::Diff,
            ..online()
        },
        Action::Snapshot(vec![role_view(Role::Client)]),
    );
    assert_eq!(s.role, Some(Role::Client));
    assert_eq!(s.roles.len(), 1);

    let s = reduce(online(), Action::Snapshot(Vec::new()));
    assert_eq!(s.role, None);
    assert!(s.roles.is_empty());
}

#[test]
fn snapshot_with_a_requested_role_keeps_it() {
    // `xp2p tui --role server` starts with the role chosen and no roles known.
    let s = reduce(
        State {
            role: Some(Role::Server),
            ..State::default()
        },
        Action::Snapshot(both_roles()),
    );
    assert_eq!(s.role, Some(Role::Server));
}

// ---- Service events ------------------------------------------------------------

#[test]
fn apply_start_records_a_live_attempt() {
    let s = event(
        online(),
        json!({"kind": "apply.start", "role": "client", "attempt_id": "a1", "request_id": "r1"}),
    );
    assert_eq!(
        s.attempts.get(&Role::Client),
        Some(&LiveAttempt {
            role: Some(Role::Client),
            attempt_id: "a1".into(),
            request_id: "r1".into(),
            ..LiveAttempt::default()
        })
    );
    assert!(s.effects.is_empty());
    assert_eq!(s.status, None);

    // Without a (known) role: ignored.
    for ev in [
        json!({"kind": "apply.start", "attempt_id": "a1"}),
        json!({"kind": "apply.start", "role": "nope", "attempt_id": "a1"}),
    ] {
        let s = event(online(), ev);
        assert!(s.attempts.is_empty());
        assert!(s.effects.is_empty());
    }
}

#[test]
fn apply_phase_appends_each_phase_once() {
    let s = event(
        online(),
        json!({"kind": "apply.start", "role": "client", "attempt_id": "a1", "request_id": "r1"}),
    );
    let s = event(
        s,
        json!({"kind": "apply.phase", "role": "client", "phase": "compiled"}),
    );
    let s = event(
        s,
        json!({"kind": "apply.phase", "role": "client", "phase": "tested"}),
    );
    let s = event(
        s,
        json!({"kind": "apply.phase", "role": "client", "phase": "compiled"}),
    );
    assert_eq!(
        s.attempts[&Role::Client].phases,
        vec![("compiled".to_string(), 0), ("tested".to_string(), 0)]
    );
    assert!(s.effects.is_empty());

    // A phase for a role without a started attempt is dropped.
    let s = event(
        s,
        json!({"kind": "apply.phase", "role": "server", "phase": "compiled"}),
    );
    assert!(!s.attempts.contains_key(&Role::Server));
}

fn done(status: &str, error: Option<&str>) -> serde_json::Value {
    let mut ev = json!({
        "kind": "apply.done",
        "role": "client",
        "attempt_id": "a1",
        "request_id": "r1",
        "status": status,
        "duration_ms": 840,
        "phases": [
            {"phase": "compiled", "ms": 12},
            {"phase": "tested", "ms": 300},
            {"phase": "committed", "ms": 528},
        ],
        "log_tail": "line one\nline two",
    });
    if let Some(e) = error {
        ev["error_summary"] = json!(e);
    }
    ev
}

#[test]
fn apply_done_committed_reports_success_and_refreshes() {
    let s = event(online(), done("committed", None));
    assert_eq!(status(&s), ("client: committed in 840 ms", false));
    assert_eq!(
        s.attempts[&Role::Client],
        LiveAttempt {
            role: Some(Role::Client),
            attempt_id: "a1".into(),
            request_id: "r1".into(),
            phases: vec![
                ("compiled".into(), 12),
                ("tested".into(), 300),
                ("committed".into(), 528),
            ],
            status: Some("committed".into()),
            duration_ms: Some(840),
            error: None,
            log_tail: "line one\nline two".into(),
            last_at: None,
        }
    );
    assert_eq!(s.effects, vec![Effect::RefreshStatus]);
}

#[test]
fn apply_done_rolled_back_reports_an_error() {
    let s = event(
        online(),
        done(
            "rolled_back",
            Some("health_check_failed: inbound socks :1080 not listening"),
        ),
    );
    assert_eq!(
        status(&s),
        (
            "client: rolled_back: health_check_failed: inbound socks :1080 not listening",
            true
        )
    );
    let a = &s.attempts[&Role::Client];
    assert_eq!(a.status.as_deref(), Some("rolled_back"));
    assert_eq!(
        a.error.as_deref(),
        Some("health_check_failed: inbound socks :1080 not listening")
    );
    assert_eq!(s.effects, vec![Effect::RefreshStatus]);
}

#[test]
fn apply_done_failure_without_a_summary_is_still_an_error() {
    let s = event(online(), done("rolled_back", None));
    assert_eq!(status(&s), ("client: rolled_back in 840 ms", true));
}

#[test]
fn apply_done_noop_and_superseded_are_not_errors() {
    for st in ["noop", "superseded"] {
        let s = event(online(), done(st, None));
        assert!(!status(&s).1, "{st}");
    }
}

#[test]
fn apply_done_replaces_the_live_attempt() {
    let s = event(
        online(),
        json!({"kind": "apply.start", "role": "client", "attempt_id": "a1", "request_id": "r1"}),
    );
    let s = event(
        s,
        json!({"kind": "apply.phase", "role": "client", "phase": "compiled"}),
    );
    let s = event(s, done("committed", None));
    assert_eq!(s.attempts[&Role::Client].phases.len(), 3);
    assert_eq!(s.attempts[&Role::Client].phases[0], ("compiled".into(), 12));
}

#[test]
fn apply_done_reloads_diff_and_journal_of_the_selected_role() {
    let s = event(in_view(View::Diff), done("committed", None));
    assert_eq!(
        s.effects,
        vec![
            Effect::RefreshStatus,
            Effect::LoadDiff {
                role: Role::Client,
                pair: 0
            }
        ]
    );
    let s = event(in_view(View::Journal), done("committed", None));
    assert_eq!(s.effects, vec![Effect::RefreshStatus, Effect::LoadJournal]);
    let s = event(in_view(View::Logs), done("committed", None));
    assert_eq!(s.effects, vec![Effect::RefreshStatus]);
    // Another role's attempt: only the status.
    let s = event(
        State {
            role: Some(Role::Server),
            ..in_view(View::Diff)
        },
        done("committed", None),
    );
    assert_eq!(s.effects, vec![Effect::RefreshStatus]);
}

#[test]
fn apply_done_without_a_role_is_ignored() {
    let mut ev = done("committed", None);
    ev.as_object_mut().unwrap().remove("role");
    assert_eq!(event(online(), ev), online());
}

#[test]
fn core_log_lines_go_to_the_logs_role_only() {
    let s = event(
        logs_state(2),
        json!({"kind": "core.log", "role": "client", "line": "hello"}),
    );
    assert_eq!(
        s.logs.iter().collect::<Vec<_>>(),
        ["log 0", "log 1", "hello"]
    );
    assert!(s.effects.is_empty());

    let s = event(
        s,
        json!({"kind": "core.log", "role": "server", "line": "other"}),
    );
    assert_eq!(s.logs.len(), 3);

    // Not watching a log: nothing kept.
    let s = event(
        online(),
        json!({"kind": "core.log", "role": "client", "line": "hello"}),
    );
    assert!(s.logs.is_empty());
    assert!(s.effects.is_empty());
}

#[test]
fn core_log_is_capped_at_log_lines() {
    let s = event(
        logs_state(LOG_LINES),
        json!({"kind": "core.log", "role": "client", "line": "newest"}),
    );
    assert_eq!(s.logs.len(), LOG_LINES);
    assert_eq!(s.logs.front().map(String::as_str), Some("log 1"));
    assert_eq!(s.logs.back().map(String::as_str), Some("newest"));
}

#[test]
fn desired_changed_refreshes_and_reloads_the_diff_of_the_role() {
    let ev = json!({"kind": "desired.changed", "role": "client"});
    let s = event(in_view(View::Diff), ev.clone());
    assert_eq!(
        s.effects,
        vec![
            Effect::RefreshStatus,
            Effect::LoadDiff {
                role: Role::Client,
                pair: 0
            }
        ]
    );
    let s = event(online(), ev.clone());
    assert_eq!(s.effects, vec![Effect::RefreshStatus]);
    let s = event(
        State {
            role: Some(Role::Server),
            ..in_view(View::Diff)
        },
        ev,
    );
    assert_eq!(s.effects, vec![Effect::RefreshStatus]);
}

#[test]
fn apply_log_is_ignored() {
    let s = event(
        online(),
        json!({"kind": "apply.log", "role": "client", "line": "x"}),
    );
    assert_eq!(s, online());
}

#[test]
fn other_events_refresh_the_status() {
    for ev in [
        json!({"kind": "core.restart.done", "role": "client"}),
        json!({"kind": "markers.changed"}),
        json!({"kind": "health", "role": "server"}),
        json!({}),
    ] {
        let s = event(in_view(View::Diff), ev.clone());
        assert_eq!(s.effects, vec![Effect::RefreshStatus], "{ev}");
        assert_eq!(s.status, None);
    }
}

// ---- Loaded data ---------------------------------------------------------------

#[test]
fn diff_loaded_is_kept_for_the_current_role_and_pair() {
    let d = diff_of(Role::Client, 1, 3);
    let s = reduce(
        State {
            diff_pair: 1,
            ..in_view(View::Diff)
        },
        Action::DiffLoaded(d.clone()),
    );
    assert_eq!(s.diff, Some(d));
    assert!(s.effects.is_empty());
}

#[test]
fn diff_loaded_for_another_role_or_pair_is_ignored() {
    let base = State {
        diff_pair: 1,
        diff: Some(diff_of(Role::Client, 1, 3)),
        ..in_view(View::Diff)
    };
    for stale in [diff_of(Role::Server, 1, 9), diff_of(Role::Client, 0, 9)] {
        assert_eq!(reduce(base.clone(), Action::DiffLoaded(stale)), base);
    }
    // No role selected: nothing matches.
    let s = reduce(
        State::default(),
        Action::DiffLoaded(diff_of(Role::Client, 0, 1)),
    );
    assert_eq!(s.diff, None);
}

#[test]
fn diff_loaded_error_is_kept() {
    let d = LoadedDiff {
        role: Role::Client,
        pair: 0,
        result: Err("Desired does not compile: bad".into()),
    };
    let s = reduce(in_view(View::Diff), Action::DiffLoaded(d.clone()));
    assert_eq!(s.diff, Some(d));
}

#[test]
fn journal_loaded_replaces_rows_and_clamps_the_selection() {
    let s = reduce(
        State {
            journal_selected: 8,
            journal_open: true,
            ..journal_state(10)
        },
        Action::JournalLoaded((0..4).map(row).collect()),
    );
    assert_eq!(s.journal.len(), 4);
    assert_eq!(s.journal_selected, 3);
    assert!(s.journal_open, "still rows: the detail stays open");

    let s = reduce(s, Action::JournalLoaded(Vec::new()));
    assert!(s.journal.is_empty());
    assert_eq!(s.journal_selected, 0);
    assert!(!s.journal_open, "nothing left to show");

    let s = reduce(
        State {
            journal_selected: 2,
            ..journal_state(3)
        },
        Action::JournalLoaded((0..10).map(row).collect()),
    );
    assert_eq!(s.journal_selected, 2, "a valid selection is kept");
    assert!(s.effects.is_empty());
}

#[test]
fn journal_loaded_keeps_the_selected_attempt_when_newer_ones_arrive() {
    // Newest first: attempt-7 is on row 2; two new attempts push it to row 4.
    let s = State {
        journal: (5..10).rev().map(row).collect(),
        journal_selected: 2,
        journal_open: true,
        ..journal_state(0)
    };
    assert_eq!(s.journal[2].attempt_id, "attempt-7");
    let s = reduce(s, Action::JournalLoaded((5..12).rev().map(row).collect()));
    assert_eq!(s.journal_selected, 4);
    assert_eq!(s.journal[s.journal_selected].attempt_id, "attempt-7");
    assert!(s.journal_open, "the open attempt is still the same one");
}

#[test]
fn logs_loaded_replaces_the_lines_of_the_logs_role() {
    let s = reduce(
        logs_state(3),
        Action::LogsLoaded {
            role: Role::Client,
            lines: vec!["a".into(), "b".into()],
        },
    );
    assert_eq!(s.logs.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert!(s.effects.is_empty());
}

#[test]
fn logs_loaded_for_another_role_is_ignored() {
    let before = logs_state(3);
    let s = reduce(
        before.clone(),
        Action::LogsLoaded {
            role: Role::Server,
            lines: vec!["x".into()],
        },
    );
    assert_eq!(s, before);
    let s = reduce(
        online(),
        Action::LogsLoaded {
            role: Role::Client,
            lines: vec!["x".into()],
        },
    );
    assert!(s.logs.is_empty(), "no log view opened");
}

#[test]
fn logs_loaded_keeps_the_last_log_lines() {
    let s = reduce(
        logs_state(0),
        Action::LogsLoaded {
            role: Role::Client,
            lines: (0..LOG_LINES + 10).map(|i| format!("l{i}")).collect(),
        },
    );
    assert_eq!(s.logs.len(), LOG_LINES);
    assert_eq!(s.logs.front().map(String::as_str), Some("l10"));
    assert_eq!(
        s.logs.back().map(String::as_str),
        Some(format!("l{}", LOG_LINES + 9).as_str())
    );
}

#[test]
fn command_done_sets_the_status_line() {
    let s = reduce(
        online(),
        Action::CommandDone {
            ok: true,
            text: "client: apply running…".into(),
        },
    );
    assert_eq!(
        s.status,
        Some(StatusMsg {
            text: "client: apply running…".into(),
            error: false
        })
    );
    let s = reduce(
        s,
        Action::CommandDone {
            ok: false,
            text: "client: apply refused: lease held".into(),
        },
    );
    assert_eq!(status(&s), ("client: apply refused: lease held", true));
    assert!(s.effects.is_empty());
}

#[test]
fn deploy_progress_is_kept_per_deploy_and_announced() {
    let s = event(
        online(),
        json!({"kind": "deploy.progress", "deploy_id": "d1", "role": "client", "step": "validating", "state": "running", "detail": "client"}),
    );
    assert_eq!(s.deploys["d1"].step, "validating");
    assert_eq!(status(&s), ("deploy (client): validating client", false));
    let s = event(
        s,
        json!({"kind": "deploy.progress", "deploy_id": "d1", "role": "client", "step": "failed", "state": "failed", "detail": "x"}),
    );
    assert_eq!(s.deploys.len(), 1);
    assert!(s.status.as_ref().is_some_and(|m| m.error));
}

#[test]
fn deploy_form_edits_starts_and_follows_a_deploy() {
    let mut s = reduce(online(), Action::Show(View::Deploy));
    assert_eq!(s.view, View::Deploy);
    s = reduce(s, Action::EditDeploy);
    assert!(s.deploy_form.editing);
    for c in "vpn.test".chars() {
        s = reduce(s, Action::Typed(c));
    }
    s = reduce(s, Action::Backspace);
    s = reduce(s, Action::Typed('t'));
    s = reduce(s, Action::NextField);
    s = reduce(s, Action::Typed('x')); // ports take digits only
    s = reduce(s, Action::Backspace);
    s = reduce(s, Action::Typed('1'));
    assert_eq!(
        (s.deploy_form.host.as_str(), s.deploy_form.port.as_str()),
        ("vpn.test", "62021")
    );
    s.effects.clear();
    s = reduce(s, Action::Enter);
    assert!(!s.deploy_form.editing && s.deploy_form.running);
    assert_eq!(
        s.effects,
        vec![Effect::StartDeploy {
            host: "vpn.test".into(),
            port: 62021
        }]
    );
    s = reduce(
        s,
        Action::DeployLine(
            json!({"step": "link_generated", "link": "xp2p+deploy://vpn.test:6202?v=1#s"}),
        ),
    );
    s = reduce(
        s,
        Action::DeployLine(json!({"step": "validating", "side": "server"})),
    );
    assert_eq!(
        s.deploy_form.link.as_deref(),
        Some("xp2p+deploy://vpn.test:6202?v=1#s")
    );
    assert_eq!(
        s.deploy_form.steps,
        ["link_generated", "validating (server)"]
    );
    s = reduce(s, Action::DeployEnded { ok: true });
    assert!(!s.deploy_form.running);
    assert_eq!(status(&s), ("deploy done", false));
    // Esc leaves editing before anything else; an empty host is refused.
    let mut s = reduce(
        reduce(online(), Action::Show(View::Deploy)),
        Action::EditDeploy,
    );
    s = reduce(s, Action::Enter);
    assert!(
        s.effects
            .iter()
            .all(|e| !matches!(e, Effect::StartDeploy { .. }))
    );
    assert!(s.status.as_ref().is_some_and(|m| m.error));
    s = reduce(s, Action::Escape);
    assert!(!s.deploy_form.editing && !s.quit);
}

#[test]
fn a_snapshot_settles_an_attempt_whose_result_event_was_lost() {
    use xp2p_store::status::AttemptView;
    let s = event(
        online(),
        json!({"kind": "apply.start", "role": "client", "attempt_id": "a-1", "request_id": "r-1"}),
    );
    assert_eq!(s.attempts[&Role::Client].status, None);
    // No apply.done arrives (a resync dropped it); the next snapshot has the record.
    let mut client = role_view(Role::Client);
    client.last_attempt = Some(AttemptView {
        attempt_id: "a-1".into(),
        request_id: "r-1".into(),
        outcome: Some(xp2p_core::records::journal::Outcome::Committed),
        phase: xp2p_core::records::journal::Phase::Done,
        duration_ms: Some(1234),
        error: None,
        phases: Vec::new(),
    });
    let s = reduce(
        s,
        Action::Snapshot(vec![client.clone(), role_view(Role::Server)]),
    );
    assert_eq!(
        s.attempts[&Role::Client].status.as_deref(),
        Some("committed")
    );
    assert_eq!(status(&s), ("client: committed in 1234 ms", false));
    // A snapshot about an older attempt leaves a running one alone.
    let s = event(
        s,
        json!({"kind": "apply.start", "role": "client", "attempt_id": "a-2", "request_id": "r-2"}),
    );
    let s = reduce(s, Action::Snapshot(vec![client, role_view(Role::Server)]));
    assert_eq!(s.attempts[&Role::Client].status, None);
}
