use super::*;

fn g() -> Gen {
    Gen {
        now: std::time::SystemTime::UNIX_EPOCH,
        random: [1; 21],
    }
}

fn client_view(editable: bool) -> DesiredView {
    let text = "[client]\n\n[[client.endpoints]]\nhostname = \"localhost\"\naddress = \"127.0.0.1\"\n\
                port = 62025\nuser = \"u@x\"\npassword = \"pw\"\n\n[[client.redirects]]\n\
                domain = \"a.example\"\noutbound_tag = \"direct\"\n";
    let mut v = DesiredView::parse(Role::Client, std::path::Path::new("c.toml"), text).unwrap();
    v.editable = editable;
    v
}

fn state(editable: bool) -> EditState {
    let mut s = EditState::default();
    s.loaded(Ok(client_view(editable)));
    s
}

fn keys(s: &mut EditState, tab: Tab, text: &str) -> Vec<Step> {
    text.chars()
        .map(|c| s.key(tab, Role::Client, EditKey::Char(c), &g()))
        .collect()
}

fn answer(summary: &str, written: bool) -> EditAnswer {
    EditAnswer {
        summary: vec![summary.into()],
        changed: true,
        written,
        request_id: written.then(|| "0123456789abcdef".into()),
        toml_diff: "+cidr".into(),
        compiled_diff: "--- now\n+++ edited\n+\"10.77.0.0/16\"".into(),
        compiled_diff_unavailable: None,
    }
}

#[test]
fn add_a_redirect_dry_run_confirm_then_write() {
    let mut s = state(true);
    let step = s.key(Tab::Routes, Role::Client, EditKey::Char('a'), &g());
    assert_eq!(step, Step::default());
    let Mode::Form(f) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    // `via` starts as the first enabled endpoint.
    assert_eq!(f.fields[2].value, "proxy-localhost");
    keys(&mut s, Tab::Routes, "10.77.0.0/16");
    let step = s.key(Tab::Routes, Role::Client, EditKey::Enter, &g());
    let Ask::Edit { edits, dry_run, .. } = &step.asks[0] else {
        panic!("{step:?}")
    };
    assert!(dry_run);
    let edits = edits.clone();
    // Keys wait while the dry run is out.
    keys(&mut s, Tab::Routes, "xyz");
    assert!(matches!(s.mode, Mode::Waiting { dry_run: true, .. }));
    s.answered(
        Role::Client,
        edits.clone(),
        true,
        Ok(answer("added redirect", false)),
    );
    let Mode::Confirm(c) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    assert!(c.lines.iter().any(|l| l.contains("10.77.0.0/16")), "{c:?}");
    let step = s.key(Tab::Routes, Role::Client, EditKey::Char('y'), &g());
    assert_eq!(
        step.asks,
        vec![Ask::Edit {
            role: Role::Client,
            edits: edits.clone(),
            dry_run: false
        }]
    );
    let step = s.answered(
        Role::Client,
        edits,
        false,
        Ok(answer("added redirect", true)),
    );
    assert_eq!(step.asks, vec![Ask::Load(Role::Client)]);
    let (text, error) = step.say.unwrap();
    assert!(!error);
    assert!(
        text.contains("added redirect; apply requested (request 01234567)"),
        "{text}"
    );
    assert_eq!(s.mode, Mode::List);
}

#[test]
fn a_refused_dry_run_goes_back_to_the_form_with_the_one_line() {
    let mut s = state(true);
    s.key(Tab::Routes, Role::Client, EditKey::Char('a'), &g());
    keys(&mut s, Tab::Routes, "10.9.0.0/16");
    let step = s.key(Tab::Routes, Role::Client, EditKey::Enter, &g());
    let Ask::Edit { edits, .. } = step.asks[0].clone() else {
        panic!()
    };
    s.answered(
        Role::Client,
        edits,
        true,
        Err("client.redirects[1].outbound_tag: no such outbound".into()),
    );
    let Mode::Form(f) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    assert_eq!(
        f.error.as_deref(),
        Some("client.redirects[1].outbound_tag: no such outbound")
    );
    assert_eq!(f.fields[1].value, "10.9.0.0/16", "what was typed is kept");
    // `n` on a confirm goes back to the form too; Esc on the form cancels.
    assert_eq!(
        s.key(Tab::Routes, Role::Client, EditKey::Esc, &g()).say,
        Some(("cancelled".into(), false))
    );
    assert_eq!(s.mode, Mode::List);
}

#[test]
fn delete_and_toggle_go_through_the_confirm_step() {
    let mut s = state(true);
    let step = s.key(Tab::Routes, Role::Client, EditKey::Char('d'), &g());
    assert!(matches!(
        &step.asks[0],
        Ask::Edit { edits, dry_run: true, .. }
            if matches!(&edits[0], Edit::RedirectRemove { target: RedirectTarget::Domain(d), .. } if d == "a.example")
    ));
    let mut s = state(true);
    let step = s.key(Tab::Routes, Role::Client, EditKey::Char(' '), &g());
    assert!(step.say.unwrap().1, "routes have no on/off");
    let step = s.key(Tab::Entries, Role::Client, EditKey::Char(' '), &g());
    assert!(matches!(
        &step.asks[0],
        Ask::Edit { edits, .. }
            if edits[0] == Edit::EndpointSetDisabled { tag: "proxy-localhost".into(), disabled: true }
    ));
    // A confirm answered with "no change" says so and writes nothing.
    let step = s.answered(
        Role::Client,
        vec![],
        true,
        Ok(EditAnswer {
            changed: false,
            ..answer("", false)
        }),
    );
    assert!(step.say.unwrap().0.starts_with("nothing to change"));
    assert_eq!(s.mode, Mode::List);
}

#[test]
fn read_only_members_browse_but_no_edit_key_works() {
    let mut s = state(false);
    for c in ['a', 'e', 'd', ' '] {
        let step = s.key(Tab::Routes, Role::Client, EditKey::Char(c), &g());
        assert!(step.asks.is_empty(), "{c}: {step:?}");
        assert_eq!(step.say, Some((READ_ONLY.to_string(), true)), "{c}");
        assert_eq!(s.mode, Mode::List);
    }
    // Browsing still works: the filter narrows the rows.
    assert_eq!(s.rows(Tab::Entries).len(), 1);
    s.key(Tab::Entries, Role::Client, EditKey::Char('/'), &g());
    keys(&mut s, Tab::Entries, "nomatch");
    assert!(s.rows(Tab::Entries).is_empty());
    s.key(Tab::Entries, Role::Client, EditKey::Esc, &g());
    assert_eq!(s.rows(Tab::Entries).len(), 1);
    assert_eq!(s.mode, Mode::List);
}

#[test]
fn a_users_link_is_asked_of_the_service_and_shown_with_its_qr_code() {
    let text = "[server]\nhost = \"h.example\"\n\n[[server.users]]\nuser_label = \"alice\"\ncredential = \"c\"\n";
    let v = DesiredView::parse(Role::Server, std::path::Path::new("s.toml"), text).unwrap();
    let mut s = EditState::default();
    s.loaded(Ok(DesiredView {
        editable: false,
        ..v
    }));
    let step = s.key(Tab::Entries, Role::Server, EditKey::Char('l'), &g());
    assert_eq!(step.asks, vec![Ask::Link("alice".into())]);
    s.link_answered("alice", Err("permission denied: needs the owner".into()));
    let Mode::Link(l) = &s.mode else { panic!() };
    assert_eq!(
        l.result,
        Some(Err("permission denied: needs the owner".into()))
    );
    s.key(Tab::Entries, Role::Server, EditKey::Esc, &g());
    s.key(Tab::Entries, Role::Server, EditKey::Enter, &g());
    s.link_answered("alice", Ok("trojan://c@h.example:62025#alice".into()));
    let Mode::Link(l) = &s.mode else { panic!() };
    let (link, qr) = l.result.clone().unwrap().unwrap();
    assert!(link.starts_with("trojan://"));
    assert!(qr.len() > 10, "a QR code");
}
