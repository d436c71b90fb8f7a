//! The twelve roles of the `storefront` image as the operator deploys them: port, protocol,
//! database. Matches the services table of ARCHITECTURE.md.

/// A role run as `storefront <role>`.
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
    /// Every role.
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

    /// The subcommand and configuration section name.
    pub fn name(self) -> &'static str {
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

    /// The port the role listens on (and serves `/healthz`, `/readyz`, `/metrics` on).
    pub fn port(self) -> i32 {
        3000 + Role::ALL.iter().position(|r| *r == self).unwrap_or(0) as i32
    }

    /// gRPC roles get a headless Service so clients balance over every pod address.
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

    /// Whether the role reads or writes S3 objects (product images, avatars): only these get
    /// the object store's credentials.
    pub fn uses_object_storage(self) -> bool {
        self.bucket().is_some()
    }

    /// The logical bucket a role that stores objects writes to.
    pub fn bucket(self) -> Option<&'static str> {
        match self {
            Role::Product => Some("product-images"),
            Role::User => Some("user-avatars"),
            _ => None,
        }
    }

    /// Roles whose upstream address the gateway is configured with.
    pub fn gateway_upstreams() -> impl Iterator<Item = Role> {
        Role::ALL
            .into_iter()
            .filter(|r| !matches!(r, Role::Gateway | Role::Notification | Role::Recommender))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_databases_follow_the_architecture() {
        let ports: Vec<(&str, i32)> = Role::ALL.iter().map(|r| (r.name(), r.port())).collect();
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
    }
}
