//! `storefront`: the one binary. A subcommand per role, `up` for every built role in one process,
//! and maintenance commands. It only parses arguments and picks roles; the work is in the crates.
#![forbid(unsafe_code)]

mod roles;

use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Command {
    /// Run the public REST gateway (default 127.0.0.1:3000; STOREFRONT_GATEWAY__LISTEN).
    Gateway,
    /// Run the auth service (gRPC, default 127.0.0.1:3001; STOREFRONT_AUTH__LISTEN).
    Auth,
    /// Run the user service (gRPC, default 127.0.0.1:3002; STOREFRONT_USER__LISTEN).
    User,
    /// Run the product service (gRPC, default 127.0.0.1:3003; STOREFRONT_PRODUCT__LISTEN).
    Product,
    /// Run the inventory service (gRPC, default 127.0.0.1:3004; STOREFRONT_INVENTORY__LISTEN).
    Inventory,
    /// Run the cart service (HTTP, default 127.0.0.1:3005; STOREFRONT_CART__LISTEN).
    Cart,
    /// Run the order service (HTTP, default 127.0.0.1:3006; STOREFRONT_ORDER__LISTEN).
    Order,
    /// Run the payment service (HTTP, default 127.0.0.1:3007; STOREFRONT_PAYMENT__LISTEN).
    Payment,
    /// Run the recommendation service (HTTP, default 127.0.0.1:3008; STOREFRONT_RECOMMENDATION__LISTEN).
    Recommendation,
    /// Run the event service (HTTP, default 127.0.0.1:3009; STOREFRONT_EVENT__LISTEN).
    Event,
    /// Run the notification service (health on 127.0.0.1:3010; STOREFRONT_NOTIFICATION__LISTEN).
    Notification,
    /// Run the reference recommender (health on 127.0.0.1:3011; STOREFRONT_RECOMMENDER__LISTEN).
    Recommender,
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
        /// Number of products (1 to 100000).
        #[arg(long, default_value_t = storefront_cli::seed::DEFAULT_PRODUCTS, value_parser = storefront_cli::seed::parse_products)]
        products: u32,
        /// Seed of the generator: the same seed and size give the same catalog.
        #[arg(long, default_value_t = storefront_cli::seed::DEFAULT_SEED)]
        seed: u64,
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gateway => roles::run(&[roles::Role::Gateway], false).await,
        Command::Auth => roles::run(&[roles::Role::Auth], false).await,
        Command::User => roles::run(&[roles::Role::User], false).await,
        Command::Product => roles::run(&[roles::Role::Product], false).await,
        Command::Inventory => roles::run(&[roles::Role::Inventory], false).await,
        Command::Cart => roles::run(&[roles::Role::Cart], false).await,
        Command::Order => roles::run(&[roles::Role::Order], false).await,
        Command::Payment => roles::run(&[roles::Role::Payment], false).await,
        Command::Recommendation => roles::run(&[roles::Role::Recommendation], false).await,
        Command::Event => roles::run(&[roles::Role::Event], false).await,
        Command::Notification => roles::run(&[roles::Role::Notification], false).await,
        Command::Recommender => roles::run(&[roles::Role::Recommender], false).await,
        Command::Up { roles, no_seed } => roles::run(&roles::or_all(roles), !no_seed).await,
        Command::Seed { products, seed } => roles::seed(products, seed).await,
        Command::Migrate { roles } => roles::migrate(&roles::or_all(roles)).await,
        Command::Admin(AdminCommand::Create { email, password }) => {
            roles::create_admin(&email, &password).await
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn unknown_roles_are_refused_with_the_choices() {
        let err = Cli::try_parse_from(["storefront", "up", "--roles", "gateway,nope"])
            .err()
            .expect("must fail");
        let text = err.to_string();
        assert!(text.contains("nope"), "{text}");
        assert!(text.contains("gateway"), "{text}");
    }
}
