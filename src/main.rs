//! argv → config → `app::run`, or a client subcommand. Nothing else.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use versiongate::cli::{self, Cli, Command};
use versiongate::config::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One process-wide TLS crypto provider (ring), for the listener and the ACME client alike.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            init_tracing();
            if let Err(e) = load_config(config).and_then(|c| versiongate::app::run(c).map_err(Into::into)) {
                versiongate::app::report_start_failure(&format!("{e:#}"));
                eprintln!("versiongate: {e:#}");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Command::CheckConfig { config } => match load_config(config) {
            Ok(c) => {
                print!("{}", c.to_masked_toml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("versiongate: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Detect { dir, json } => ExitCode::from(cli::detect(&dir, json)),
        Command::Completions { shell } => {
            cli::completions(shell, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        client => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            match runtime {
                Ok(rt) => ExitCode::from(rt.block_on(cli::run_client(client)) as u8),
                Err(e) => {
                    eprintln!("versiongate: cannot start: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// A named file must exist; the default one may be absent (all defaults then).
fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let must_exist = path.is_some();
    let path = path.unwrap_or_else(|| PathBuf::from(cli::DEFAULT_CONFIG));
    let env: Vec<(String, String)> = std::env::vars().collect();
    Config::load(&path, must_exist, &env).with_context(|| format!("invalid configuration ({})", path.display()))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}
