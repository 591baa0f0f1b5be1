//! Generated documentation: shell completions (clap_complete) and man pages
//! (clap_mangen), both from the one CLI definition.

use std::path::Path;

use clap::CommandFactory;

use crate::args::Cli;
use crate::exit;

pub fn completions(shell: clap_complete::Shell) -> i32 {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "xp2p", &mut std::io::stdout());
    exit::OK
}

fn render(cmd: &clap::Command, name: String, dir: &Path) -> std::io::Result<()> {
    let file = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone().name(name)).render(&mut buf)?;
    std::fs::write(file, buf)
}

/// `xp2p.1` plus `xp2p-<command>.1` for every command.
pub fn man(dir: &Path) -> i32 {
    let cmd = Cli::command();
    let result = std::fs::create_dir_all(dir).and_then(|()| {
        render(&cmd, "xp2p".to_string(), dir)?;
        for sub in cmd.get_subcommands() {
            render(sub, format!("xp2p-{}", sub.get_name()), dir)?;
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            println!("wrote man pages to {}", dir.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write man pages to {}: {e}", dir.display());
            exit::FAILED
        }
    }
}
