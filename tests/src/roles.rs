//! Starting the platform's roles in a [`Stack`]: each on 127.0.0.1:0 with the stack's settings,
//! its own database and consumer group, a 200 ms outbox poll, stopped with the stack (or alone).

use std::net::SocketAddr;

use sqlx::PgPool;
use storefront_kit::Shutdown;
use tokio::task::JoinHandle;

use crate::stack::Stack;

/// A role a [`Stack`] started: where it listens, what tests look into (`state`: its pool, the
/// product catalog), its task and its own shutdown (a child of the stack's).
pub struct Started<S = PgPool> {
    pub addr: SocketAddr,
    pub state: S,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub shutdown: Shutdown,
}

impl<S> Started<S> {
    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops this role alone and waits for it to end; what its `run` returned.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.task.await.expect("role task")
    }
}

/// One starter per role: `$name(tune)` builds the role's config with the stack's settings and
/// `$defaults`, lets `tune` change it, starts it and spawns its `run`.
macro_rules! starters {
    ($($(#[$doc:meta])* $name:ident($krate:ident.$field:ident) -> $state:ty
        = |$server:ident| $get:expr, |$cfg:ident, $stack:ident| $defaults:block)*) => {
        impl Stack {
            $(
                $(#[$doc])*
                pub async fn $name(&self, tune: impl FnOnce(&mut $krate::Config)) -> Started<$state> {
                    let mut $cfg = $krate::Config {
                        common: self.common.clone(),
                        $field: Default::default(),
                    };
                    $cfg.$field.listen = "127.0.0.1:0".parse().unwrap();
                    let $stack = self;
                    $defaults
                    tune(&mut $cfg);
                    let shutdown = self.shutdown.child();
                    let $server = $krate::build($cfg, shutdown.clone()).await.expect(concat!(
                        stringify!($name),
                        " starts (is the dev stack up? scripts/dev-stack.sh up)"
                    ));
                    Started {
                        addr: $server.local_addr(),
                        state: $get,
                        task: tokio::spawn($server.run()),
                        shutdown,
                    }
                }
            )*
        }
    };
}

starters! {
    /// A product role: its own database and consumer group, outbox polled every 200 ms.
    product(storefront_product.product) -> storefront_product::Catalog
        = |s| s.catalog().clone(), |c, st| {
            c.product.database = Some(st.unique("product"));
            c.product.consumer_group = st.unique("product");
            c.product.relay_poll_interval_ms = 200;
        }
    /// An inventory role: its own consumer group, outbox polled every 200 ms.
    inventory(storefront_inventory.inventory) -> PgPool = |s| s.pool().clone(), |c, st| {
            c.inventory.consumer_group = st.unique("inventory");
            c.inventory.relay_poll_interval_ms = 200;
        }
    /// A cart role (point `upstreams` at product and inventory): its own consumer group, outbox
    /// polled every 200 ms.
    cart(storefront_cart.cart) -> PgPool = |s| s.pool().clone(), |c, st| {
            c.cart.consumer_group = st.unique("cart");
            c.cart.relay_poll_interval_ms = 200;
        }
    /// An order role (point it at product, inventory and cart): its own consumer group, outbox
    /// polled every 200 ms.
    order(storefront_order.order) -> PgPool = |s| s.pool().clone(), |c, st| {
            c.order.consumer_group = st.unique("order");
            c.order.relay_poll_interval_ms = 200;
        }
    /// A payment role: its own consumer group, outbox polled every 200 ms, a sandbox provider
    /// given up on after 300 ms per call and 2 s in all (so hanging cards fail quickly).
    payment(storefront_payment.payment) -> PgPool = |s| s.pool().clone(), |c, st| {
            c.payment.consumer_group = st.unique("payment");
            c.payment.relay_poll_interval_ms = 200;
            c.payment.provider_timeout_ms = 300;
            c.payment.retry_budget_ms = 2_000;
        }
    /// A user role: its own database and consumer group.
    user(storefront_user.user) -> PgPool = |s| s.service().pool.clone(), |c, st| {
            c.user.database = Some(st.unique("user"));
            c.user.consumer_group = st.unique("user");
        }
    /// An auth role: its own database, one fresh signing key `k1` and no generated ones.
    auth(storefront_auth.auth) -> PgPool = |s| s.auth().pool.clone(), |c, st| {
            c.auth.database = Some(st.unique("auth"));
            c.auth.keys.inline = vec![storefront_auth::config::InlineKey {
                kid: "k1".into(),
                pem: storefront_auth::keys::generate_pem().into(),
            }];
            c.auth.keys.generate = false;
        }
    /// An event role: its own database and consumer group, outbox polled every 200 ms.
    event(storefront_event.event) -> PgPool = |s| s.pool().clone(), |c, st| {
            c.event.database = Some(st.unique("event"));
            c.event.consumer_group = st.unique("event");
            c.event.relay_poll_interval_ms = 200;
        }
    /// A recommendation role (point `product_url` at product).
    recommendation(storefront_recommendation.recommendation) -> () = |s| (), |c, _st| {}
    /// A recommender role: its own consumer group.
    recommender(storefront_recommender.recommender) -> () = |s| (), |c, st| {
            c.recommender.consumer_group = st.unique("recommender");
        }
    /// A notification role: its own consumer group.
    notification(storefront_notification.notification) -> PgPool = |s| s.pool().clone(), |c, st| {
            c.notification.consumer_group = st.unique("notification");
        }
}
