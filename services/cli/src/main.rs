//! `storefront`: the one binary. A subcommand per role, `up` for every built role in one process,
//! and maintenance commands. It only parses arguments and picks roles; the work is in the crates.
#![forbid(unsafe_code)]

mod roles;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// jemalloc with background threads: memory freed after a burst goes back to the system within
/// seconds, where glibc's arenas kept the peak (measured with `scripts/bench.sh burst`; README).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "storefront",
    version,
    about = "Storefront: an e-commerce backend. Run one role, every role, or maintenance tasks.",
    long_about = "Storefront: an e-commerce backend.\n\n\
        Every setting has a default that works against the local dev stack \
        (scripts/dev-stack.sh up) and is overridden by STOREFRONT_* environment variables, \
        `__` separating levels: STOREFRONT_POSTGRES__URL, STOREFRONT_GATEWAY__LISTEN, \
        STOREFRONT_KAFKA__BROKERS, STOREFRONT_TELEMETRY__LOG_FORMAT=json|pretty|auto, ...\n\
        Bad settings stop the process before any port is bound, naming the variable."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The maintenance commands; one subcommand per role is added from the role list ([`cli`]).
#[derive(Subcommand)]
enum Command {
    /// Run every built role in one process, each on its own port, talking over loopback.
    Up {
        /// Only these roles (comma-separated: auth, user, product, inventory, cart, order, payment,
        /// notification, recommendation, event, recommender, gateway). Default: all of them.
        #[arg(long, value_delimiter = ',', value_parser = roles::parse)]
        roles: Vec<roles::Role>,
        /// Do not seed the demo catalog (by default `up` seeds it once, when the catalog is
        /// empty and the product role is among the roles).
        #[arg(long)]
        no_seed: bool,
    },
    /// Fill an empty catalog with a deterministic demo catalog (categories, products, variants,
    /// tags, specifications, stock and images). Does nothing when the catalog has products.
    Seed {
        /// Number of products (1 to 1000000).
        #[arg(long, default_value_t = storefront_cli::seed::DEFAULT_PRODUCTS, value_parser = storefront_cli::seed::parse_products)]
        products: u32,
        /// Seed of the generator: the same seed and size give the same catalog.
        #[arg(long, default_value_t = storefront_cli::seed::DEFAULT_SEED)]
        seed: u64,
        /// Products without images (for scale checks: a million products have 1.3 million
        /// image objects, more than the development store, s3s-fs, took: README Performance).
        #[arg(long)]
        no_images: bool,
    },
    /// Create each role's database if missing and run its migrations, then exit.
    Migrate {
        /// Only these roles (comma-separated names, as for `up`). Default: every role that has a
        /// database.
        #[arg(long, value_delimiter = ',', value_parser = roles::parse)]
        roles: Vec<roles::Role>,
    },
    /// Administration tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account, or give an existing account the admin role (its password is kept).
    Create {
        /// The admin's e-mail address.
        #[arg(long)]
        email: String,
        /// The password (8 to 128 characters). Prefer the environment variable to the flag, so it
        /// stays out of shell history.
        #[arg(long, env = "STOREFRONT_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

/// What `storefront <role>` says of a role.
fn role_about(role: roles::Role) -> String {
    let name = role.name();
    let (what, how) = match role {
        roles::Role::Gateway => ("the public REST gateway".to_owned(), "default "),
        roles::Role::Recommender => ("the reference recommender".to_owned(), "health on "),
        roles::Role::Notification => (format!("the {name} service"), "health on "),
        _ if role.is_grpc() => (format!("the {name} service"), "gRPC, default "),
        _ => (format!("the {name} service"), "HTTP, default "),
    };
    format!(
        "Run {what} ({how}127.0.0.1:{}; STOREFRONT_{}__LISTEN).",
        role.port(),
        name.to_ascii_uppercase()
    )
}

/// The command line: the maintenance commands of [`Command`] and one subcommand per role of the
/// one role list (`contracts::roles::Role::ALL`), in its order.
fn cli() -> clap::Command {
    roles::Role::ALL.iter().fold(Cli::command(), |c, r| {
        c.subcommand(clap::Command::new(r.name()).about(role_about(*r)))
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let matches = cli().get_matches();
    let role = matches
        .subcommand_name()
        .and_then(|name| roles::parse(name).ok());
    let result = match role {
        Some(role) => roles::run(&[role], roles::Launch::Alone).await,
        None => match Cli::from_arg_matches(&matches) {
            Ok(cli) => command(cli.command).await,
            Err(e) => e.exit(),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Also printed plainly: logs may be JSON, but a person reads this line.
            eprintln!("storefront: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Up { roles, no_seed } => {
            roles::run(&roles::or_all(roles), roles::Launch::Up { seed: !no_seed }).await
        }
        Command::Seed {
            products,
            seed,
            no_images,
        } => roles::seed(products, seed, !no_images).await,
        Command::Migrate { roles } => roles::migrate(&roles::or_all(roles)).await,
        Command::Admin(AdminCommand::Create { email, password }) => {
            roles::create_admin(&email, &password).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed_with_a_subcommand_per_role() {
        let c = cli();
        c.clone().debug_assert();
        for role in roles::Role::ALL {
            let sub = c
                .find_subcommand(role.name())
                .unwrap_or_else(|| panic!("no subcommand for {}", role.name()));
            let about = sub.get_about().unwrap().to_string();
            assert!(about.contains(&format!(":{};", role.port())), "{about}");
            assert!(about.contains("__LISTEN"), "{about}");
        }
        let m = cli().try_get_matches_from(["storefront", "order"]).unwrap();
        assert_eq!(m.subcommand_name(), Some("order"));
        assert!(cli().try_get_matches_from(["storefront", "ordr"]).is_err());
        assert_eq!(
            role_about(roles::Role::Auth),
            "Run the auth service (gRPC, default 127.0.0.1:3001; STOREFRONT_AUTH__LISTEN)."
        );
    }

    #[test]
    fn unknown_roles_are_refused_with_the_choices() {
        let err = cli()
            .try_get_matches_from(["storefront", "up", "--roles", "gateway,nope"])
            .expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("nope"), "{text}");
        assert!(text.contains("gateway"), "{text}");
    }

    #[test]
    fn up_makes_one_partition_per_topic_and_a_role_alone_three_unless_set() {
        let mut kafka = storefront_kit::config::KafkaSettings::default();
        assert_eq!(
            roles::partitions(&kafka, roles::Launch::Up { seed: false }),
            1
        );
        assert_eq!(roles::partitions(&kafka, roles::Launch::Alone), 3);
        kafka.partitions = Some(6);
        assert_eq!(
            roles::partitions(&kafka, roles::Launch::Up { seed: true }),
            6
        );
        assert_eq!(roles::partitions(&kafka, roles::Launch::Alone), 6);
    }
}
