//! The command line: `serve` and `check-config` run here; the client subcommands talk to the admin API.
//!
//! Exit codes: 0 success; 1 a deployment that ended FAILED or CANCELLED (with `--wait`/`--follow`),
//! or an invalid config for `check-config`; 2 a request the API refused or could not be reached, or
//! `detect` found nothing to build.

mod certs;
mod client;
mod commands;
mod detect;
mod previews;
mod traffic;
mod upgrade;

pub(crate) use client::Client;
pub use detect::detect;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "versiongate", version, about = "Zero-downtime deploys for one VPS, from one git push")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (proxy, controller and admin API)
    #[command(after_help = "Example:\n  versiongate serve --config /etc/versiongate/versiongate.toml")]
    Serve {
        /// Config file [default: config/versiongate.toml]
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate and print the effective config, secrets masked; exit 1 on error
    #[command(after_help = "Example:\n  versiongate check-config --config /etc/versiongate/versiongate.toml")]
    CheckConfig {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List, show, add or remove projects
    #[command(after_help = "Example:\n  versiongate projects add --file shop.toml\n  versiongate projects list")]
    Projects {
        #[command(subcommand)]
        action: ProjectsAction,
    },
    /// Deploy a project: a git ref (docker runtime) or the address of a running process (external)
    #[command(
        after_help = "Example:\n  versiongate deploy shop --ref main --follow\n  versiongate deploy api --target 127.0.0.1:4001 --target 127.0.0.1:4002 --wait\n  versiongate deploy shop --ref v2 --canary 10"
    )]
    Deploy {
        name: String,
        #[arg(long = "ref", conflicts_with = "target")]
        git_ref: Option<String>,
        /// HOST:PORT of a process you run yourself (runtime "external"); repeat it for several replicas
        #[arg(long)]
        target: Vec<String>,
        /// Health-gate the new version, then send this percentage of clients (1-99, sticky) to it until `promote`
        #[arg(long, value_name = "PERCENT")]
        canary: Option<i64>,
        /// Wait until the deployment ends (or its canary runs); exit 0 only if it went live
        #[arg(long)]
        wait: bool,
        /// Stream the deployment's log until it ends (implies --wait)
        #[arg(long)]
        follow: bool,
    },
    /// Roll back to the previous good deployment, or to --to ID (instant while the old slot is warm)
    #[command(after_help = "Example:\n  versiongate rollback shop --wait\n  versiongate rollback shop --to 41")]
    Rollback {
        name: String,
        #[arg(long)]
        to: Option<i64>,
        /// Wait until it ends; exit 0 only if it went live
        #[arg(long)]
        wait: bool,
    },
    /// Send every client to the running canary (the switch, observe window and drain follow)
    #[command(after_help = "Example:\n  versiongate promote shop")]
    Promote { name: String },
    /// Live slot, live deployment and last deployments of one or every project
    #[command(after_help = "Example:\n  versiongate status\n  versiongate status shop")]
    Status { name: Option<String> },
    /// A project's pull-request previews: number, project, host, commit, status and expiry
    #[command(after_help = "Example:\n  versiongate previews shop --all")]
    Previews {
        name: String,
        /// Also list removed previews, with why they went
        #[arg(long)]
        all: bool,
    },
    /// Hold new requests (in memory, in order) until `resume`; each waits at most --timeout, then gets 503
    #[command(after_help = "Example:\n  versiongate pause shop --timeout 60")]
    Pause {
        name: String,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Let held requests through, oldest first, and serve again
    #[command(after_help = "Example:\n  versiongate resume shop")]
    Resume { name: String },
    /// Answer every request with a 503 maintenance page (HTML or JSON) with Retry-After, or stop doing so
    #[command(
        after_help = "Example:\n  versiongate maintenance shop on --message \"Back at 14:00 UTC\"\n  versiongate maintenance shop off"
    )]
    Maintenance {
        name: String,
        #[arg(value_enum)]
        switch: MaintenanceSwitch,
        /// What the page says
        #[arg(long)]
        message: Option<String>,
    },
    /// What would be built for a repo without a Dockerfile: runtime, package manager, commands, Dockerfile
    #[command(after_help = "Example:\n  versiongate detect ./my-app\n  versiongate detect ./my-app --json")]
    Detect {
        dir: PathBuf,
        /// One JSON object: runtime, package_manager, install, build, start, dockerfile_source, dockerfile
        #[arg(long)]
        json: bool,
    },
    /// HTTPS certificates: list every host's state, upload a custom certificate, remove one
    #[command(
        after_help = "Example:\n  versiongate certs list\n  versiongate certs add shop.example.com --cert fullchain.pem --key key.pem"
    )]
    Certs {
        #[command(subcommand)]
        action: CertsAction,
    },
    /// Replace the running gateway with the binary now at its path, same config, with no connection
    /// refused; prints the old and new version and pid. Exit 1 if the new binary fails (the old one keeps serving)
    #[command(
        after_help = "Example:\n  sudo install -m 755 target/release/versiongate /usr/bin/versiongate && versiongate upgrade"
    )]
    Upgrade {
        /// Give up waiting after this many seconds
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Print a shell completion script (bash, zsh or fish) to stdout
    #[command(
        after_help = "Example:\n  versiongate completions bash > /etc/bash_completion.d/versiongate\n  versiongate completions zsh > \"${fpath[1]}/_versiongate\"\n  versiongate completions fish > ~/.config/fish/completions/versiongate.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// A deployment's log
    #[command(after_help = "Example:\n  versiongate logs 42 --follow")]
    Logs {
        id: i64,
        /// Keep streaming new lines until the deployment ends
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Writes the completion script for `shell`, generated by clap from the commands above.
pub fn completions(shell: CompletionShell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "versiongate", out);
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MaintenanceSwitch {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum ProjectsAction {
    List,
    Show {
        name: String,
    },
    /// Create a project from a TOML file of project fields
    Add {
        #[arg(long)]
        file: PathBuf,
    },
    Remove {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertsAction {
    /// Every host's certificate: source (acme or custom), status, expiry and last error
    List,
    /// Upload a certificate for HOST (it wins over ACME; `*.example.com` for a wildcard)
    Add {
        host: String,
        /// PEM chain, leaf first
        #[arg(long)]
        cert: PathBuf,
        /// PEM private key
        #[arg(long)]
        key: PathBuf,
    },
    /// Remove the uploaded certificate of HOST (ACME takes over if the host wants one)
    Remove { host: String },
}

pub const DEFAULT_CONFIG: &str = "config/versiongate.toml";

/// Runs a client subcommand against `VERSIONGATE_URL` and returns the process exit code.
pub async fn run_client(command: Command) -> i32 {
    let client = match Client::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let result = match command {
        Command::Projects { action } => commands::projects(&client, action).await.map(|()| 0),
        Command::Deploy { name, git_ref, target, canary, wait, follow } => {
            let asked = commands::Deploy { git_ref, targets: target, canary, wait, follow };
            commands::deploy(&client, &name, asked).await
        }
        Command::Promote { name } => commands::promote(&client, &name).await,
        Command::Rollback { name, to, wait } => commands::rollback(&client, &name, to, wait).await,
        Command::Status { name } => commands::status(&client, name.as_deref()).await.map(|()| 0),
        Command::Previews { name, all } => previews::previews(&client, &name, all).await.map(|()| 0),
        Command::Pause { name, timeout } => traffic::pause(&client, &name, timeout).await.map(|()| 0),
        Command::Resume { name } => traffic::resume(&client, &name).await.map(|()| 0),
        Command::Maintenance { name, switch, message } => {
            traffic::maintenance(&client, &name, switch, message).await.map(|()| 0)
        }
        Command::Certs { action } => certs::certs(&client, action).await.map(|()| 0),
        Command::Logs { id, follow } => commands::logs(&client, id, follow).await.map(|_| 0),
        Command::Upgrade { timeout } => upgrade::upgrade(client, timeout).await,
        Command::Serve { .. } | Command::CheckConfig { .. } | Command::Detect { .. } | Command::Completions { .. } => {
            Ok(0)
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        2
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_shows_an_example_in_its_help() {
        let cli = Cli::command();
        for command in cli.get_subcommands() {
            let help = command.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            let name = command.get_name();
            assert!(
                help.starts_with("Example:") && help.contains(&format!("versiongate {name}")),
                "`{name} --help` has no example of itself: {help:?}"
            );
        }
    }

    #[test]
    fn completions_cover_every_command_in_each_shell() {
        for (shell, marker) in [
            (CompletionShell::Bash, "complete -F _versiongate"),
            (CompletionShell::Zsh, "#compdef versiongate"),
            (CompletionShell::Fish, "complete -c versiongate"),
        ] {
            let mut out = Vec::new();
            completions(shell, &mut out);
            let script = String::from_utf8(out).unwrap();
            assert!(script.contains(marker), "{shell:?} lacks {marker:?}");
            for command in ["deploy", "rollback", "check-config", "certs", "completions"] {
                assert!(script.contains(command), "{shell:?} completion lacks {command}");
            }
        }
    }
}
