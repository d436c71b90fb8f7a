//! `storefront-operator`: `run` the controller, or print the `crd`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "storefront-operator",
    version,
    about = "Kubernetes operator: a `Storefront` resource becomes the whole running platform."
)]
struct Cli {
    /// `tracing` filter, e.g. `info` or `info,storefront_operator=debug`.
    #[arg(
        long,
        env = "STOREFRONT_OPERATOR_LOG_LEVEL",
        default_value = "info",
        global = true
    )]
    log_level: String,
    /// Log as JSON (the default when stderr is not a terminal is also JSON).
    #[arg(long, env = "STOREFRONT_OPERATOR_LOG_JSON", global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the current kubeconfig (or in-cluster).
    Run {
        /// Elect a leader through a Lease so several replicas are safe.
        #[arg(long, env = "STOREFRONT_OPERATOR_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
        leader_election: bool,
        /// Namespace of the Lease (the operator's own namespace).
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// Name of the Lease.
        #[arg(
            long,
            env = "STOREFRONT_OPERATOR_LEASE_NAME",
            default_value = "storefront-operator-leader"
        )]
        lease_name: String,
        /// This replica's identity in the Lease (the pod name).
        #[arg(long, env = "POD_NAME")]
        holder: Option<String>,
        /// Where `/metrics`, `/healthz` and `/readyz` are served.
        #[arg(
            long,
            env = "STOREFRONT_OPERATOR_METRICS_ADDR",
            default_value = "0.0.0.0:8080"
        )]
        metrics_addr: SocketAddr,
        /// Seconds between resyncs of a healthy Storefront (drift correction).
        #[arg(long, env = "STOREFRONT_OPERATOR_RESYNC_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(5..=86400))]
        resync_secs: u64,
        /// Failed cleanup attempts (with backoff: 5 s, 10 s, 20 s, ...) after which deleting a
        /// Storefront gives up on its external resources, releases the finalizer and records
        /// a warning event naming what may be left.
        #[arg(long, env = "STOREFRONT_OPERATOR_CLEANUP_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        cleanup_attempts: u32,
    },
    /// Print the CustomResourceDefinition YAML.
    Crd,
}

fn init_tracing(level: &str, json: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .map_err(|e| anyhow::anyhow!("invalid setting STOREFRONT_OPERATOR_LOG_LEVEL: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json || !std::io::stderr().is_terminal() {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("storefront-operator: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd => {
            print!("{}", storefront_operator::crd::crd_yaml());
            Ok(())
        }
        Command::Run {
            leader_election,
            lease_namespace,
            lease_name,
            holder,
            metrics_addr,
            resync_secs,
            cleanup_attempts,
        } => {
            init_tracing(&cli.log_level, cli.log_json)?;
            let holder = holder
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| format!("storefront-operator-{}", std::process::id()));
            storefront_operator::run::run(storefront_operator::run::Options {
                leader_election,
                lease_namespace,
                lease_name,
                holder,
                metrics_addr,
                resync: Duration::from_secs(resync_secs),
                cleanup_attempts,
            })
            .await
        }
    }
}
