//! The roles of the platform, written once: the `storefront` binary runs them (`storefront
//! <role>`, `storefront up`), the operator deploys them. Port, protocol, database, bucket and
//! Kafka use follow the services table of ARCHITECTURE.md.

/// A role run as `storefront <role>`. Declared in port order (3000 + position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Gateway,
    Auth,
    User,
    Product,
    Inventory,
    Cart,
    Order,
    Payment,
    Recommendation,
    Event,
    Notification,
    Recommender,
}

impl Role {
    /// Every role, in port order.
    pub const ALL: [Role; 12] = [
        Role::Gateway,
        Role::Auth,
        Role::User,
        Role::Product,
        Role::Inventory,
        Role::Cart,
        Role::Order,
        Role::Payment,
        Role::Recommendation,
        Role::Event,
        Role::Notification,
        Role::Recommender,
    ];

    /// Every role in the order `storefront up` starts them: the gateway last, since it fronts
    /// the others.
    pub const START_ORDER: [Role; 12] = [
        Role::Auth,
        Role::User,
        Role::Product,
        Role::Inventory,
        Role::Cart,
        Role::Order,
        Role::Payment,
        Role::Notification,
        Role::Recommendation,
        Role::Event,
        Role::Recommender,
        Role::Gateway,
    ];

    /// The subcommand, the configuration section and the database name stem.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Auth => "auth",
            Role::User => "user",
            Role::Product => "product",
            Role::Inventory => "inventory",
            Role::Cart => "cart",
            Role::Order => "order",
            Role::Payment => "payment",
            Role::Recommendation => "recommendation",
            Role::Event => "event",
            Role::Notification => "notification",
            Role::Recommender => "recommender",
        }
    }

    /// The role named `name`, or a message listing the names.
    pub fn parse(name: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                format!("`{name}` is not a role; the roles are {}", names.join(", "))
            })
    }

    /// The port the role listens on (and serves `/healthz`, `/readyz`, `/metrics` on).
    pub fn port(self) -> u16 {
        3000 + self as u16
    }

    /// Position in [`Role::START_ORDER`].
    pub fn start_rank(self) -> usize {
        Role::START_ORDER
            .iter()
            .position(|r| *r == self)
            .unwrap_or(usize::MAX)
    }

    /// The gRPC roles (the others speak HTTP).
    pub fn is_grpc(self) -> bool {
        matches!(
            self,
            Role::Auth | Role::User | Role::Product | Role::Inventory
        )
    }

    /// Whether the role has its own PostgreSQL database (`<prefix><role>_db`).
    pub fn has_database(self) -> bool {
        !matches!(
            self,
            Role::Gateway | Role::Recommendation | Role::Recommender
        )
    }

    /// Whether the role publishes or consumes Kafka events.
    pub fn uses_kafka(self) -> bool {
        !matches!(self, Role::Gateway | Role::Recommendation)
    }

    /// The logical bucket a role that stores objects writes to.
    pub fn bucket(self) -> Option<&'static str> {
        match self {
            Role::Product => Some("product-images"),
            Role::User => Some("user-avatars"),
            _ => None,
        }
    }

    /// Whether the role reads or writes S3 objects (product images, avatars).
    pub fn uses_object_storage(self) -> bool {
        self.bucket().is_some()
    }

    /// Roles the gateway forwards to (its upstreams).
    pub fn gateway_upstreams() -> impl Iterator<Item = Role> {
        Role::ALL
            .into_iter()
            .filter(|r| !matches!(r, Role::Gateway | Role::Notification | Role::Recommender))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_databases_and_order_follow_the_architecture() {
        let ports: Vec<(&str, u16)> = Role::ALL.iter().map(|r| (r.name(), r.port())).collect();
        assert_eq!(ports[0], ("gateway", 3000));
        assert_eq!(ports[4], ("inventory", 3004));
        assert_eq!(ports[11], ("recommender", 3011));
        let dbs: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| r.has_database())
            .map(|r| r.name())
            .collect();
        assert_eq!(
            dbs,
            [
                "auth",
                "user",
                "product",
                "inventory",
                "cart",
                "order",
                "payment",
                "event",
                "notification"
            ]
        );
        assert_eq!(Role::gateway_upstreams().count(), 9);
        let s3: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| r.uses_object_storage())
            .map(|r| r.name())
            .collect();
        assert_eq!(s3, ["user", "product"]);
        let mut started = Role::START_ORDER.to_vec();
        assert_eq!(started.pop(), Some(Role::Gateway));
        started.sort();
        started.dedup();
        assert_eq!(started.len(), 11);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.name()), Ok(r));
        }
        assert!(Role::parse("shop").unwrap_err().contains("gateway, auth"));
    }
}
