//! The command-line grammar (clap derive). One enum variant per command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use xp2p_core::Role;

#[derive(Debug, Parser)]
#[command(
    name = "xp2p",
    version,
    about = "Operator tool for xray-core Trojan/VLESS tunnels"
)]
pub struct Cli {
    /// Configuration root (default: $XP2P_CONFIG_ROOT, else /etc/xp2p).
    #[arg(long, global = true, value_name = "DIR")]
    pub config_root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Client,
    Server,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Client => Role::Client,
            RoleArg::Server => Role::Server,
        }
    }
}

/// Which config of a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// Desired, compiled now.
    Desired,
    /// What the service runs.
    Live,
    /// The previous Live (last known good).
    Lkg,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a role's xray.json (Desired compiled now, Live or LKG).
    Render(RenderArgs),
    /// Compile Desired and run the core's own config test.
    Validate(ValidateArgs),
    /// Show what differs between Desired (compiled), Live and LKG.
    Diff(DiffArgs),
    /// Write a commented starter TOML for a role.
    Init(InitArgs),
    /// Ask the service to apply Desired; `--wait` waits for the outcome.
    Apply(ApplyArgs),
    /// Per-role state: core, pid, hashes, inbound health, pending request, error.
    Status(StatusArgs),
    /// Swap Live and LKG through the service (journaled like an apply).
    Rollback(ControlArgs),
    /// Replace the role's core with a fresh one on the same Live config (no downtime).
    Restart(ControlArgs),
    /// Show apply attempts from the journal.
    Journal(JournalArgs),
    /// Show (or follow) a role's core log.
    Logs(LogsArgs),
    /// Round trips through the tunnel to the server's diagnostics responder.
    Ping(PingArgs),
    /// Shell completions on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (xp2p.1 and one per command) into a directory.
    Man {
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// A throwaway server and client on loopback through a real core, with the console.
    Demo(DemoArgs),
    /// The operator console (dashboard, diff, journal, logs, actions).
    Tui(TuiArgs),
    /// Run or manage the xp2p service.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Put TUN, routes and DNS right: through the running service (re-reconcile),
    /// or, with no service, restore the baseline from the state files.
    Repair(RepairArgs),
    /// Client-side commands (deploy, mode).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Server-side commands (deploy, mode).
    #[command(subcommand)]
    Server(ServerCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Print a deploy link and bring up a tunnel once a server takes it.
    Deploy(ClientDeployArgs),
    /// Switch the client's mode: `proxy`, `tun split` or `tun full [--tag T]`.
    Mode(ClientModeArgs),
}

#[derive(Debug, Args)]
pub struct ClientModeArgs {
    /// `proxy` (SOCKS only) or `tun`.
    #[arg(value_parser = ["proxy", "tun"])]
    pub mode: String,
    /// With `tun`: `split` (routes per CIDR redirect) or `full` (everything).
    #[arg(value_parser = ["split", "full"])]
    pub tun_mode: Option<String>,
    /// Full mode: the endpoint tag that carries everything (default: the first).
    #[arg(long)]
    pub tag: Option<String>,
    #[command(flatten)]
    pub apply: ModeApplyArgs,
}

#[derive(Debug, Args)]
pub struct ServerModeArgs {
    /// `proxy` or `tun`.
    #[arg(value_parser = ["proxy", "tun"])]
    pub mode: String,
    #[command(flatten)]
    pub apply: ModeApplyArgs,
}

/// How a mode switch is applied (as `xp2p apply`).
#[derive(Debug, Args)]
pub struct ModeApplyArgs {
    /// Wait for the apply's outcome (exit codes as `xp2p apply --wait`).
    #[arg(long)]
    pub wait: bool,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Accept exactly one deploy for a link made by `xp2p client deploy`.
    Deploy(ServerDeployArgs),
    /// Switch the server's mode: `proxy` or `tun`.
    Mode(ServerModeArgs),
}

#[derive(Debug, Args)]
pub struct ClientDeployArgs {
    /// The server's host name or IP (dialed; its certificate name when new).
    #[arg(long)]
    pub host: String,
    /// The server's deploy port.
    #[arg(long, default_value_t = 62025)]
    pub port: u16,
    /// Trojan port for a new server (default 58443; an existing server keeps its own).
    #[arg(long)]
    pub trojan_port: Option<u16>,
    /// Mode after deploy: proxy, tun:split or tun:full (default: keep the current one).
    #[arg(long)]
    pub mode: Option<xp2p_deploy::Mode>,
    /// How long the link stays valid.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub ttl: std::time::Duration,
    /// User label created on the server (default deploy-<unix>@local).
    #[arg(long)]
    pub user: Option<String>,
    /// SOCKS address written to xp2p-client.toml (default: keep the current one,
    /// 127.0.0.1:51180 for a new file).
    #[arg(long, value_name = "ADDR")]
    pub socks: Option<std::net::SocketAddr>,
    /// One JSON object per step on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServerDeployArgs {
    /// The deploy link printed by `xp2p client deploy`.
    #[arg(long)]
    pub link: String,
    /// Address to listen on (default 0.0.0.0 and the link's port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Stop waiting for a client after this long (the link's expiry also ends it).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// One JSON object per step on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Run the service in the foreground (what systemd/SCM start).
    Run(ServiceRunArgs),
    /// Write the systemd unit for this CONFIG_ROOT and enable it.
    Install(ServiceInstallArgs),
    /// Disable and remove the systemd unit.
    Uninstall(ServiceManageArgs),
    /// systemctl start xp2p.service
    Start(ServiceManageArgs),
    /// systemctl stop xp2p.service (the service stops its cores)
    Stop(ServiceManageArgs),
    /// systemctl restart xp2p.service
    Restart(ServiceManageArgs),
    /// The manager's view of the unit joined with the service's own status.
    Status(ServiceManageArgs),
}

#[derive(Debug, Args)]
pub struct ServiceManageArgs {
    /// Print what would be run, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Directory of the unit file (default /etc/systemd/system).
    #[arg(long, value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServiceInstallArgs {
    #[command(flatten)]
    pub manage: ServiceManageArgs,
    /// The xp2p binary the unit runs (default: this one).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServiceRunArgs {
    /// Leave the cores running when the service stops (for upgrades).
    #[arg(long)]
    pub keep_cores: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Desired compiled now (default).
    #[arg(long, group = "which")]
    pub desired: bool,
    #[arg(long, group = "which")]
    pub live: bool,
    #[arg(long, group = "which")]
    pub lkg: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Role to validate (default: every role with a Desired file).
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Left side (default desired).
    #[arg(value_enum, default_value = "desired")]
    pub left: Which,
    /// Right side (default live).
    #[arg(value_enum, default_value = "live")]
    pub right: Which,
    /// JSON list of {path, change, old, new} JSON-pointer changes.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleOrAll {
    Client,
    Server,
    All,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[arg(long, value_enum, default_value = "all")]
    pub role: RoleOrAll,
    /// Wait for the outcome (exit code tells it: 0 committed/noop, 1 failed,
    /// 3 rolled back, 4 failed after commit, 5 timeout, 6 service not running).
    #[arg(long)]
    pub wait: bool,
    /// How long to wait (a timeout never cancels the apply).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// One JSON object on stdout (errors: one object on stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
    /// Keep printing as the service reports changes.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct ControlArgs {
    #[arg(long, value_enum)]
    pub role: RoleArg,
    #[arg(long)]
    pub wait: bool,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Number of attempts to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[arg(long, value_enum)]
    pub role: RoleArg,
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Role selected at start.
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// No console: print the SOCKS address and wait for Ctrl-C.
    #[arg(long)]
    pub headless: bool,
}

#[derive(Debug, Args)]
pub struct PingArgs {
    /// Only this endpoint (default: every endpoint of the client's Live config).
    #[arg(long, value_name = "TAG")]
    pub endpoint: Option<String>,
    #[arg(long, default_value_t = 3)]
    pub count: u32,
    #[arg(long)]
    pub json: bool,
}
