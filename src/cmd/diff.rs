//! `xp2p diff`: Desired (compiled) / Live / LKG, as a unified diff of canonical
//! JSON (coloured on a terminal) or as JSON-pointer changes with `--json`.

use xp2p_core::Layout;
use xp2p_core::diff;

use super::source::{self, SideError};
use crate::args::DiffArgs;
use crate::{exit, style};

pub fn run(layout: &Layout, a: &DiffArgs) -> i32 {
    let role = a.role.into();
    let side = |which| match source::load(layout, role, which) {
        Ok(bytes) => diff::canonical(&bytes).map_err(|e| {
            SideError::Missing(format!(
                "{} xray.json is not JSON: {e}",
                source::label(which)
            ))
        }),
        Err(e) => Err(e),
    };
    let (left, right) = match (side(a.left), side(a.right)) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => {
            e.report();
            return exit::FAILED;
        }
    };
    if a.json {
        let changes = diff::changes(&left.0, &right.0);
        match serde_json::to_string_pretty(&changes) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILED;
            }
        }
        return exit::OK;
    }
    let text = diff::unified(
        source::label(a.left),
        &left.1,
        source::label(a.right),
        &right.1,
    );
    if text.is_empty() {
        println!(
            "{role}: {} and {} are identical",
            source::label(a.left),
            source::label(a.right)
        );
    } else if style::colour_stdout() {
        print!("{}", style::colour_diff(&text));
    } else {
        print!("{text}");
    }
    exit::OK
}
