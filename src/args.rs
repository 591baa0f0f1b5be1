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
    /// Client-side commands (deploy, mode, endpoints, redirects, forwards).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Server-side commands (deploy, mode, users, redirects, forwards, cert).
    #[command(subcommand)]
    Server(ServerCommand),
    /// Write one archive (mode 0600) of the roles' Desired, snippets and TLS material.
    Export(ExportArgs),
    /// Take an `xp2p export` archive back: validated whole first, then written, then applied.
    Import(ImportArgs),
    /// Help for someone else to help: `xp2p debug bundle`.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Print a deploy link and bring up a tunnel once a server takes it.
    Deploy(ClientDeployArgs),
    /// Switch the client's mode: `proxy`, `tun split` or `tun full [--tag T]`.
    Mode(ClientModeArgs),
    /// Servers this client tunnels to: add (from a link), list, update, enable, disable, remove.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Traffic sent into the tunnel by destination (CIDR or domain).
    #[command(subcommand)]
    Redirect(RedirectCommand),
    /// Local ports forwarded through the tunnel to a target host.
    #[command(subcommand)]
    Forward(ForwardCommand),
    /// Reverse bridges: let the server reach this client's LAN through the tunnel.
    #[command(subcommand)]
    Reverse(BridgeCommand),
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
    /// Show the diff of the TOML and of the compiled config; write nothing.
    #[arg(long)]
    pub dry_run: bool,
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
    /// Users (clients) of this server: add, list, show (link + QR), rotate, enable, disable, remove.
    #[command(subcommand)]
    User(UserCommand),
    /// Traffic of the server's core sent to an outbound by destination.
    #[command(subcommand)]
    Redirect(RedirectCommand),
    /// Ports of the server forwarded through an outbound to a target host.
    #[command(subcommand)]
    Forward(ForwardCommand),
    /// The server's TLS certificate: set (checked) or show.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Reverse channels into the LANs behind clients (`redirect add --via <channel>`).
    #[command(subcommand)]
    Reverse(ChannelCommand),
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Add a reverse channel for a user (its client must add the bridge).
    Add {
        /// The user whose client carries the channel.
        #[arg(long)]
        user: String,
        /// The channel's key (default: from the label).
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Channels: key, user, tag, state.
    List(ListArgs),
    Enable {
        key: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    Disable {
        key: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Delete a channel (refused while a redirect or forward goes via it, unless --cascade).
    Remove {
        key: String,
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum BridgeCommand {
    /// Add the bridge of a reverse channel through an endpoint (its user and host by default).
    Add {
        /// The endpoint whose server carries the channel.
        #[arg(long)]
        endpoint: String,
        /// The bridge's key (default: from the host).
        #[arg(long)]
        key: Option<String>,
        /// The user label the server knows this client by (default: the endpoint's).
        #[arg(long)]
        user: Option<String>,
        /// The server's host as its links name it (default: the endpoint's).
        #[arg(long)]
        host: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Bridges: key, endpoint, tag, state.
    List(ListArgs),
    Enable {
        key: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    Disable {
        key: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    Remove {
        key: String,
        #[command(flatten)]
        edit: EditArgs,
    },
}

/// How an edit of Desired is written and applied (every edit command).
#[derive(Debug, Clone, Args)]
pub struct EditArgs {
    /// Show the diff of the TOML and of the compiled config; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait for the apply's outcome (exit codes as `xp2p apply --wait`).
    #[arg(long)]
    pub wait: bool,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// One JSON object on stdout (errors: one object on stderr). Never holds a credential.
    #[arg(long)]
    pub json: bool,
}

/// Output options of the listing commands.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (a UUIDv4 credential and a label are generated when not given); prints its link.
    Add {
        /// The user's label (default: client-<random>@xp2p.local).
        label: Option<String>,
        /// The credential (default: a new UUIDv4).
        #[arg(long)]
        credential: Option<String>,
        /// Also add a reverse channel for this user (the server reaches its client's LAN).
        #[arg(long)]
        reverse: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// List users: label, state, created, last rotation.
    List {
        /// Also print each user's link (credentials: for your terminal only).
        #[arg(long)]
        links: bool,
        #[command(flatten)]
        list: ListArgs,
    },
    /// A user's share link and a QR code for it.
    Show {
        label: String,
        /// Print only the link (for scripts).
        #[arg(long)]
        link: bool,
        /// Also write the QR code as a PNG picture (mode 0600).
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
    },
    /// Give a user a new credential; with --grace the old one works until then.
    Rotate {
        label: String,
        /// How long the old credential keeps working (e.g. 24h; default: it stops now).
        #[arg(long, value_parser = humantime::parse_duration)]
        grace: Option<std::time::Duration>,
        /// The new credential (default: a new UUIDv4).
        #[arg(long)]
        credential: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Stop a user's credential from working (kept in Desired).
    Disable {
        label: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Let a disabled user in again.
    Enable {
        label: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Delete a user's block from Desired (refused while it has a reverse channel, unless --cascade).
    Remove {
        label: String,
        /// Also remove its reverse channels and what goes via them.
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Add an endpoint from a trojan:// or vless:// link, or from --host/--password.
    Add(EndpointAddArgs),
    /// List endpoints: tag, server, protocol, state.
    List(ListArgs),
    /// Change an endpoint's keys.
    Update(EndpointUpdateArgs),
    /// Stop using an endpoint (refused while a redirect or forward goes via it).
    Disable {
        tag: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    Enable {
        tag: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Delete an endpoint (refused while something names it, unless --cascade).
    Remove {
        tag: String,
        /// Also remove the redirects and forwards that go via it (and clear full_tunnel_tag).
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        edit: EditArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Trojan,
    Vless,
}

#[derive(Debug, Args)]
pub struct EndpointAddArgs {
    /// A trojan:// or vless:// link (`xp2p server user show`).
    #[arg(long, conflicts_with_all = ["host", "password"])]
    pub link: Option<String>,
    /// The server's host name or address.
    #[arg(long, required_unless_present = "link")]
    pub host: Option<String>,
    #[arg(long, default_value_t = 58443)]
    pub port: u16,
    /// The credential (Trojan password or VLESS UUID).
    #[arg(long, required_unless_present = "link")]
    pub password: Option<String>,
    #[arg(long, value_enum, default_value = "trojan")]
    pub protocol: ProtocolArg,
    /// TLS server name (default: the host).
    #[arg(long)]
    pub server_name: Option<String>,
    /// Pin the server certificate (hex SHA-256) and skip CA verification.
    #[arg(long, value_name = "SHA256")]
    pub pin: Option<String>,
    /// The endpoint's tag (default: proxy-<host>).
    #[arg(long)]
    pub tag: Option<String>,
    #[command(flatten)]
    pub edit: EditArgs,
}

#[derive(Debug, Args)]
pub struct EndpointUpdateArgs {
    pub tag: String,
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long)]
    pub password: Option<String>,
    #[arg(long)]
    pub server_name: Option<String>,
    #[arg(long, value_name = "SHA256")]
    pub pin: Option<String>,
    #[command(flatten)]
    pub edit: EditArgs,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "target")]
pub struct RedirectTargetArgs {
    /// A destination network (10.20.0.0/16).
    #[arg(long, group = "target")]
    pub cidr: Option<String>,
    /// A destination domain (example.com, or full:/domain:/keyword:/regexp:).
    #[arg(long, group = "target")]
    pub domain: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RedirectCommand {
    /// Send traffic for a CIDR or domain via an outbound (an endpoint tag).
    Add {
        #[command(flatten)]
        target: RedirectTargetArgs,
        /// The outbound tag (an endpoint on the client, an outbound on the server).
        #[arg(long)]
        via: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    List(ListArgs),
    Remove {
        #[command(flatten)]
        target: RedirectTargetArgs,
        #[command(flatten)]
        edit: EditArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardProto {
    Tcp,
    Udp,
    Both,
}

#[derive(Debug, Subcommand)]
pub enum ForwardCommand {
    /// Forward a local port through an outbound to TARGET.
    Add {
        /// Listen address:port (default address 127.0.0.1).
        #[arg(long, value_name = "ADDR:PORT", conflicts_with = "listen_port")]
        listen: Option<String>,
        /// The port alone on 127.0.0.1, or `auto` for a free one.
        #[arg(long, value_name = "PORT|auto")]
        listen_port: Option<String>,
        /// host:port reached through the tunnel.
        #[arg(long)]
        target: String,
        #[arg(long, value_enum, default_value = "tcp")]
        proto: ForwardProto,
        /// The outbound tag.
        #[arg(long)]
        via: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    List(ListArgs),
    Remove {
        /// The forward's listen address:port (or the port alone on 127.0.0.1).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: String,
        #[command(flatten)]
        edit: EditArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Use this certificate and key (checked: the pair matches, the names cover `host`).
    Set {
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Subject, names, expiry and SHA-256 pin of the server's certificate.
    Show(ListArgs),
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
    /// Set up no reverse channel (by default the server adds one for the new
    /// user and this client the matching bridge).
    #[arg(long)]
    pub no_reverse: bool,
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
    /// Server: one probe of this reverse channel (its key, or its tag) through
    /// the portal to the client's responder; exit 1 when it is down.
    #[arg(long, value_name = "KEY", conflicts_with = "endpoint")]
    pub channel: Option<String>,
    #[arg(long, default_value_t = 3)]
    pub count: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Which roles (default: every role with a Desired file).
    #[arg(long, value_enum, default_value = "all")]
    pub role: RoleOrAll,
    /// The archive to write (tar + gzip, mode 0600: it holds credentials and keys).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace an existing FILE (a symlink there is never followed).
    #[arg(long)]
    pub force: bool,
    /// One JSON object on stdout: the manifest (no secret).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An archive written by `xp2p export`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub edit: EditArgs,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// One archive (mode 0600) of redacted Desired, Live and LKG, markers, the
    /// journal's tail, sessions, log tails, versions and OS facts — no credential.
    Bundle(DebugBundleArgs),
}

#[derive(Debug, Args)]
pub struct DebugBundleArgs {
    /// The archive to write (tar + gzip, mode 0600).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace an existing FILE (a symlink there is never followed).
    #[arg(long)]
    pub force: bool,
    /// One JSON object on stdout: what the bundle holds.
    #[arg(long)]
    pub json: bool,
}
