//! Compile time of a large client: 200 endpoints, 10 000 redirects (CIDRs and
//! domains) and the four snippet files. Inputs are written to a temporary
//! CONFIG_ROOT and read once; only `xp2p_core::compile::compile` is timed.
//!
//! `cargo bench -p xp2p-core --bench compile`

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use xp2p_core::compile::{CompileContext, compile};
use xp2p_core::coreproc::{CoreInfo, Flavour};
use xp2p_core::{Layout, Role};
use xp2p_store::digest::read_desired;

const ENDPOINTS: usize = 200;
const REDIRECTS: usize = 10_000;
/// Every third redirect is a domain, the rest CIDRs of varying prefix length.
const DOMAIN_EVERY: usize = 3;

fn endpoint_tag(i: usize) -> String {
    format!("proxy-ep{i}-example-net")
}

fn client_toml() -> String {
    let mut t = String::from(
        "[core]\napi_listen = \"127.0.0.1:52180\"\n\n[client]\nsocks_address = \"127.0.0.1:51180\"\n",
    );
    for i in 0..ENDPOINTS {
        let vless = i % 2 == 1;
        writeln!(t, "\n[[client.endpoints]]").unwrap();
        writeln!(t, "hostname = \"ep{i}.example.net\"").unwrap();
        if i % 5 == 0 {
            writeln!(t, "address = \"ep{i}.example.net\"").unwrap();
        } else {
            writeln!(t, "address = \"198.51.{}.{}\"", i / 250, i % 250 + 1).unwrap();
        }
        writeln!(t, "port = {}", 40000 + i).unwrap();
        writeln!(t, "user = \"user{i}@xp2p.local\"").unwrap();
        if vless {
            writeln!(
                t,
                "protocol = \"vless\"\npassword = \"00000000-0000-4000-8000-{i:012}\""
            )
            .unwrap();
        } else {
            writeln!(t, "protocol = \"trojan\"\npassword = \"secret-{i}\"").unwrap();
        }
        if i % 7 == 0 {
            writeln!(t, "pinned_peer_cert_sha256 = \"{}\"", "ab".repeat(32)).unwrap();
        }
    }
    for i in 0..REDIRECTS {
        let target = if i % 10 == 0 {
            "direct".to_string()
        } else {
            endpoint_tag(i % ENDPOINTS)
        };
        writeln!(t, "\n[[client.redirects]]").unwrap();
        if i % DOMAIN_EVERY == 0 {
            writeln!(t, "domain = \"svc{i}.corp{}.example.com\"", i % 17).unwrap();
        } else {
            // unique networks with prefixes /16.../28
            let prefix = 16 + (i % 13) as u8;
            let n = i as u32;
            let ip = std::net::Ipv4Addr::from(0x0A00_0000 | (n << 4));
            writeln!(t, "cidr = \"{ip}/{prefix}\"").unwrap();
        }
        writeln!(t, "outbound_tag = \"{target}\"").unwrap();
    }
    for i in 0..20 {
        writeln!(
            t,
            "\n[[client.forwards]]\nlisten_port = {}\ntarget_host = \"10.99.0.{i}\"\ntarget_port = 22\noutbound_tag = \"{}\"",
            20000 + i,
            endpoint_tag(i)
        )
        .unwrap();
    }
    t
}

fn write_snippets(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let rules = |slot: &str, n: usize| {
        let items: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"type":"field","ruleTag":"{slot}-{i}","ip":["192.168.{i}.0/24"],"outboundTag":"{}"}}"#,
                    if i % 2 == 0 { "direct" } else { "snip-out-0" }
                )
            })
            .collect();
        format!("{{\"rules\":[{}]}}", items.join(","))
    };
    std::fs::write(
        dir.join("routing.rules.after-xp2p-system.json"),
        rules("sys", 50),
    )
    .unwrap();
    std::fs::write(
        dir.join("routing.rules.after-xp2p-managed.json"),
        rules("man", 50),
    )
    .unwrap();
    let inbounds: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"tag":"snip-in-{i}","protocol":"socks","listen":"127.0.0.1","port":{}}}"#,
                30000 + i
            )
        })
        .collect();
    std::fs::write(
        dir.join("inbounds.append.json"),
        format!("{{\"inbounds\":[{}]}}", inbounds.join(",")),
    )
    .unwrap();
    let outbounds: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"tag":"snip-out-{i}","protocol":"freedom"}}"#))
        .collect();
    std::fs::write(
        dir.join("outbounds.append.json"),
        format!("{{\"outbounds\":[{}]}}", outbounds.join(",")),
    )
    .unwrap();
}

fn bench_compile(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), dir.path().join("logs"));
    std::fs::write(layout.desired_toml(Role::Client), client_toml()).unwrap();
    write_snippets(&layout.snippets_dir(Role::Client));
    let files = read_desired(&layout, Role::Client).unwrap();
    let core = CoreInfo {
        path: "/usr/bin/v2ray".into(),
        flavour: Flavour::V2ray,
        version: "4.34.0".into(),
    };
    let ctx = CompileContext {
        request_id: Some("bench".into()),
        compiled_at: "2026-01-01T00:00:00Z".into(),
    };

    // The inputs must be valid, or the figure would time an early error.
    let compiled = compile(&layout, &files, &core, &ctx).unwrap_or_else(|p| panic!("{p}"));
    let x: serde_json::Value = serde_json::from_slice(&compiled.xray_json).unwrap();
    let rules = x["routing"]["rules"].as_array().unwrap().len();
    assert!(rules >= REDIRECTS + ENDPOINTS, "only {rules} rules");
    eprintln!(
        "compile bench input: {} bytes of TOML -> {} bytes of xray.json, {rules} routing rules",
        files.toml.as_ref().map_or(0, Vec::len),
        compiled.xray_json.len()
    );

    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    g.bench_function("client_10k_redirects_200_endpoints_snippets", |b| {
        b.iter(|| compile(black_box(&layout), black_box(&files), &core, &ctx).unwrap())
    });
    // Where the time goes: the TOML parse alone, and parse + validation.
    let toml_path = layout.desired_toml(Role::Client);
    let src = std::str::from_utf8(files.toml.as_deref().unwrap()).unwrap();
    g.bench_function("parse_toml_only", |b| {
        b.iter(|| xp2p_core::desired::parse_client(&toml_path, black_box(src)).unwrap())
    });
    g.bench_function("check_only_parse_and_validate", |b| {
        b.iter(|| xp2p_core::compile::check(black_box(&layout), black_box(&files)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_compile);
criterion_main!(benches);
