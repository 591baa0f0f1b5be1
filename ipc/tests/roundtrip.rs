//! Property: every request (and the simpler answers) survives the wire —
//! typed value → frame → line → read back → typed value — unchanged.

use proptest::prelude::*;
use serde_json::Value;
use xp2p_core::Role;
use xp2p_core::desired::edit::{Edit, EndpointChanges, RedirectTarget};
use xp2p_core::desired::model::Port;
use xp2p_ipc::frame::{ReadOutcome, read_frame};
use xp2p_ipc::{ApplyTarget, Field, Frame, Request, Response, WireError};

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Client), Just(Role::Server)]
}

/// A field as a client may send it: absent, valid, or a value of another type
/// (one that does not parse as `T`).
fn field<T: std::fmt::Debug + Clone + serde::de::DeserializeOwned + 'static>(
    valid: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Field<T>> {
    prop_oneof![
        Just(Field::Absent),
        valid.prop_map(Field::Valid),
        prop_oneof![
            Just(Value::Null),
            Just(Value::from(7)),
            Just(Value::from(-1)),
            Just(Value::from(true)),
            Just(Value::from("nope")),
            Just(Value::Array(vec![])),
        ]
        .prop_filter("a value of another type", |v| serde_json::from_value::<T>(
            v.clone()
        )
        .is_err())
        .prop_map(Field::Invalid),
    ]
}

fn arb_request() -> impl Strategy<Value = Request> {
    let target = prop_oneof![
        Just(ApplyTarget::Client),
        Just(ApplyTarget::Server),
        Just(ApplyTarget::All)
    ];
    prop_oneof![
        (field(text()), field(any::<u32>()))
            .prop_map(|(client, proto)| Request::Hello { client, proto }),
        Just(Request::Status {}),
        field(any::<bool>()).prop_map(|logs| Request::Subscribe { logs }),
        (field(target), field(text()))
            .prop_map(|(role, request_id)| Request::Apply { role, request_id }),
        field(role()).prop_map(|role| Request::Rollback { role }),
        field(role()).prop_map(|role| Request::Restart { role }),
        Just(Request::Repair {}),
        (
            field(role()),
            field(text()),
            field(any::<bool>()),
            field(text()),
            field(text())
        )
            .prop_map(|(role, mode, tun_enabled, tun_mode, tag)| Request::Mode {
                role,
                mode,
                tun_enabled,
                tun_mode,
                tag
            }),
        (field(role()), field(any::<u64>()))
            .prop_map(|(role, limit)| Request::Journal { role, limit }),
        (field(role()), field(any::<u64>()))
            .prop_map(|(role, bytes)| Request::Logs { role, bytes }),
        (field(role()), field(text())).prop_map(|(role, which)| Request::Render { role, which }),
        (
            field(text()),
            field(text()),
            field(text()),
            field(text()),
            field(text())
        )
            .prop_map(
                |(deploy_id, role, step, state, detail)| Request::DeployProgress {
                    deploy_id,
                    role,
                    step,
                    state,
                    detail
                }
            ),
        (
            role(),
            proptest::collection::vec(arb_edit(), 0..4),
            any::<bool>()
        )
            .prop_map(|(role, edits, dry_run)| Request::Edit {
                role,
                edits,
                dry_run
            }),
        role().prop_map(|role| Request::Desired { role }),
        text().prop_map(|label| Request::UserLink { label }),
    ]
}

/// Edits the console sends (the shapes with free text in them).
fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (text(), text()).prop_map(|(label, credential)| Edit::UserAdd { label, credential }),
        (text(), text(), proptest::option::of(text())).prop_map(
            |(label, new_credential, grace_until)| Edit::UserRotate {
                label,
                new_credential,
                grace_until
            }
        ),
        (text(), any::<bool>())
            .prop_map(|(label, disabled)| Edit::UserSetDisabled { label, disabled }),
        (role(), text(), text()).prop_map(|(role, d, via)| Edit::RedirectAdd {
            role,
            target: RedirectTarget::Domain(d),
            via
        }),
        (role(), any::<[u8; 4]>(), 0u8..=32).prop_map(|(role, ip, len)| Edit::RedirectRemove {
            role,
            target: RedirectTarget::cidr(&format!("{}.{}.{}.{}/{len}", ip[0], ip[1], ip[2], ip[3]))
                .unwrap()
        }),
        (text(), any::<bool>()).prop_map(|(tag, cascade)| Edit::EndpointRemove { tag, cascade }),
        (text(), proptest::option::of(1u16..)).prop_map(|(tag, port)| Edit::EndpointUpdate {
            tag,
            changes: EndpointChanges {
                port: port.map(Port),
                ..EndpointChanges::default()
            }
        }),
    ]
}

fn arb_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (
            text(),
            any::<u32>(),
            proptest::collection::vec(role(), 0..3),
            text()
        )
            .prop_map(|(instance_id, proto, roles, service)| Response::HelloOk {
                instance_id,
                proto,
                roles,
                service
            }),
        proptest::collection::btree_map(role(), text(), 0..3)
            .prop_map(|request_ids| Response::ApplyOk { request_ids }),
        text().prop_map(|request_id| Response::RollbackOk { request_id }),
        text().prop_map(|request_id| Response::RestartOk { request_id }),
        text().prop_map(|request_id| Response::ModeOk { request_id }),
        text().prop_map(|text| Response::LogsOk { text }),
        text().prop_map(|json| Response::RenderOk { json }),
        Just(Response::DeployProgressOk {}),
        (
            proptest::collection::vec(text(), 0..3),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(text()),
            text(),
            text(),
            proptest::option::of(text())
        )
            .prop_map(
                |(summary, changed, written, request_id, toml_diff, compiled_diff, why)| {
                    Response::EditOk {
                        summary,
                        changed,
                        written,
                        request_id,
                        toml_diff,
                        compiled_diff,
                        compiled_diff_unavailable: why,
                    }
                }
            ),
        (text(), text()).prop_map(|(label, link)| Response::UserLinkOk { label, link }),
        any::<u64>().prop_map(|seq| Response::Resync { seq }),
        (proptest::sample::select(WireError::ALL.to_vec()), text())
            .prop_map(|(code, message)| Response::Error { code, message }),
    ]
}

/// Through the real line reader, as the other side reads it.
fn over_the_wire(f: &Frame) -> Frame {
    let mut line = f.to_line().into_bytes();
    line.push(b'\n');
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut r = tokio::io::BufReader::new(&line[..]);
        match read_frame(&mut r, &mut Vec::new()).await.unwrap() {
            ReadOutcome::Frame(g) => g,
            other => panic!("{other:?}"),
        }
    })
}

proptest! {
    #[test]
    fn requests_round_trip(req in arb_request(), id in any::<u64>()) {
        let f = req.to_frame(Some(id));
        prop_assert_eq!(f.kind.as_str(), req.kind().as_str());
        let back = over_the_wire(&f);
        prop_assert_eq!(back.id, Some(id));
        prop_assert_eq!(Request::from_frame(&back).unwrap(), req);
    }

    #[test]
    fn responses_round_trip(resp in arb_response(), id in proptest::option::of(any::<u64>())) {
        let back = over_the_wire(&resp.to_frame(id));
        prop_assert_eq!(back.id, id);
        prop_assert_eq!(Response::from_frame(&back).unwrap(), resp);
    }
}
