//! The `Storefront` custom resource (`storefronts.storefront.io/v1alpha1`): its spec, status and
//! defaults. `crds/storefront.yaml` is generated from these types (`storefront-operator crd`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of the resource.
pub const GROUP: &str = "storefront.io";

/// A whole Storefront platform: every role of the `storefront` image, their configuration and
/// the data stores they need (PostgreSQL, Redis, Kafka, S3), provisioned by the operator.
// Each `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "storefront.io",
    version = "v1alpha1",
    kind = "Storefront",
    plural = "storefronts",
    shortname = "sf",
    namespaced,
    status = "StorefrontStatus",
    doc = "A whole Storefront e-commerce platform: every role of the `storefront` image, its configuration, and the PostgreSQL databases, Kafka topics, S3 buckets and Redis user it needs, provisioned and cleaned up by the storefront-operator.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether every part of the storefront is ready"
    ),
    printcolumn(
        name = "Gateway URL",
        type_ = "string",
        json_path = ".status.gatewayUrl",
        description = "Where the public REST API answers"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct StorefrontSpec {
    /// The `storefront` container image every role runs.
    #[serde(default)]
    pub image: ImageSpec,
    /// Per-role settings (replicas, resources, autoscaling, extra environment). Roles left out
    /// run with one replica and default resources.
    #[serde(default)]
    pub roles: RolesSpec,
    /// Prefix of every shared resource name, for several storefronts on one data store:
    /// databases `<prefix>_<role>_db`, topics and buckets `<prefix>-<name>`, Redis keys
    /// `<prefix>:`. Empty (the default): no prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$"))]
    pub prefix: Option<String>,
    /// PostgreSQL: one database and one role per service.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.mode == 'Managed' || (has(self.endpoint) && has(self.secretRef))").message("an External postgres needs endpoint and secretRef"))]
    pub postgres: DependencySpec,
    /// Redis: carts, caches, rate limits, recommendations. A per-storefront ACL user is created
    /// when the server supports ACLs.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.mode == 'Managed' || has(self.endpoint)").message("an External redis needs endpoint"))]
    pub redis: DependencySpec,
    /// Kafka (or a Kafka-protocol broker): the event topics.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.mode == 'Managed' || has(self.endpoint)").message("an External kafka needs endpoint"))]
    pub kafka: KafkaSpec,
    /// S3-compatible object storage: the product-images and user-avatars buckets.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.mode == 'Managed' || (has(self.endpoint) && has(self.secretRef))").message("an External objectStorage needs endpoint and secretRef"))]
    pub object_storage: DependencySpec,
    /// The Ingress in front of the gateway.
    #[serde(default)]
    pub ingress: IngressSpec,
    /// Access-token signing keys.
    #[serde(default)]
    pub auth: AuthSpec,
    /// Outgoing e-mail (the notification role).
    #[serde(default)]
    pub smtp: SmtpSpec,
    /// The web shop the gateway serves at every path outside `/api` (so the Ingress gives a
    /// shop at `/` and the API at `/api/v1`, one origin).
    #[serde(default)]
    pub web: WebSpec,
    /// What happens to the external resources (every one the Storefront ever had, on External
    /// servers) when it is deleted. `Retain` (default) keeps the data and releases the claims so
    /// another Storefront may adopt it, and deletes the Redis and object-store users; `Delete`
    /// also drops databases and roles, deletes topics (released instead on a broker that cannot
    /// be trusted with DeleteTopics), empties and deletes buckets and deletes the Redis keys
    /// under a non-empty prefix.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Which container image to run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    /// Image repository, e.g. `ghcr.io/example/storefront`.
    #[serde(default = "default_repository")]
    #[schemars(length(min = 1))]
    pub repository: String,
    /// Image tag.
    #[serde(default = "default_tag")]
    #[schemars(length(min = 1))]
    pub tag: String,
    /// When the kubelet pulls the image.
    #[serde(default)]
    pub pull_policy: PullPolicy,
    /// Secrets with registry credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<String>,
}

fn default_repository() -> String {
    "storefront".into()
}
fn default_tag() -> String {
    "latest".into()
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self {
            repository: default_repository(),
            tag: default_tag(),
            pull_policy: PullPolicy::default(),
            pull_secrets: Vec::new(),
        }
    }
}

/// Image pull policy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Settings of every role; each defaults to one replica with default resources.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RolesSpec {
    /// Public REST gateway (HTTP 3000; gets the Ingress).
    #[serde(default)]
    pub gateway: RoleSpec,
    /// Identity service (gRPC 3001).
    #[serde(default)]
    pub auth: RoleSpec,
    /// Profiles and addresses (gRPC 3002).
    #[serde(default)]
    pub user: RoleSpec,
    /// Catalog (gRPC 3003).
    #[serde(default)]
    pub product: RoleSpec,
    /// Stock and reservations (gRPC 3004).
    #[serde(default)]
    pub inventory: RoleSpec,
    /// Carts (HTTP 3005).
    #[serde(default)]
    pub cart: RoleSpec,
    /// Orders and checkout (HTTP 3006).
    #[serde(default)]
    pub order: RoleSpec,
    /// Payments (HTTP 3007).
    #[serde(default)]
    pub payment: RoleSpec,
    /// Recommendations read API (HTTP 3008).
    #[serde(default)]
    pub recommendation: RoleSpec,
    /// Tracking events (HTTP 3009).
    #[serde(default)]
    pub event: RoleSpec,
    /// E-mail notifications (HTTP 3010, health only).
    #[serde(default)]
    pub notification: RoleSpec,
    /// Reference recommendation pipeline (HTTP 3011, health only).
    #[serde(default)]
    pub recommender: RoleSpec,
}

impl RolesSpec {
    /// The settings of `role`.
    pub fn get(&self, role: crate::roles::Role) -> &RoleSpec {
        use crate::roles::Role::*;
        match role {
            Gateway => &self.gateway,
            Auth => &self.auth,
            User => &self.user,
            Product => &self.product,
            Inventory => &self.inventory,
            Cart => &self.cart,
            Order => &self.order,
            Payment => &self.payment,
            Recommendation => &self.recommendation,
            Event => &self.event,
            Notification => &self.notification,
            Recommender => &self.recommender,
        }
    }

    /// Mutable settings of `role` (tests and defaulting).
    pub fn get_mut(&mut self, role: crate::roles::Role) -> &mut RoleSpec {
        use crate::roles::Role::*;
        match role {
            Gateway => &mut self.gateway,
            Auth => &mut self.auth,
            User => &mut self.user,
            Product => &mut self.product,
            Inventory => &mut self.inventory,
            Cart => &mut self.cart,
            Order => &mut self.order,
            Payment => &mut self.payment,
            Recommendation => &mut self.recommendation,
            Event => &mut self.event,
            Notification => &mut self.notification,
            Recommender => &mut self.recommender,
        }
    }
}

/// Settings of one role.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.autoscaling) || self.autoscaling.maxReplicas >= self.autoscaling.minReplicas").message("autoscaling.maxReplicas must be at least minReplicas"))]
pub struct RoleSpec {
    /// Whether the role runs at all. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Number of pods when autoscaling is off (0 to 50). Default 1.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 50))]
    pub replicas: i32,
    /// CPU and memory `requests` and `limits` of the role's container, as in a Pod. Default:
    /// requests of 50m CPU and 64Mi memory, limit of 512Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "resources_schema")]
    pub resources: Option<ResourceRequirements>,
    /// A HorizontalPodAutoscaler on CPU utilisation instead of fixed replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
    /// Extra environment variables (e.g. `STOREFRONT_GATEWAY__RATE_LIMIT__PER_IP_PER_MINUTE`);
    /// they win over the operator's settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "env_schema")]
    pub env: Vec<EnvVar>,
}

/// A compact schema for `resources` (the full upstream one repeats a long description per role).
fn resources_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let quantities = serde_json::json!({
        "type": "object",
        "additionalProperties": {"x-kubernetes-int-or-string": true}
    });
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "properties": {
            "requests": quantities.clone(),
            "limits": quantities
        }
    })
}

/// A compact schema for `env`: Kubernetes `EnvVar`s (`name` with `value` or `valueFrom`).
fn env_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "description": "Variable name."},
                "value": {"type": "string", "description": "Literal value."},
                "valueFrom": {
                    "type": "object",
                    "description": "A source for the value (secretKeyRef, configMapKeyRef, fieldRef, ...), as in a Pod.",
                    "x-kubernetes-preserve-unknown-fields": true
                }
            }
        }
    })
}

fn default_true() -> bool {
    true
}
fn default_replicas() -> i32 {
    1
}

impl Default for RoleSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            replicas: 1,
            resources: None,
            autoscaling: None,
            env: Vec::new(),
        }
    }
}

/// Horizontal autoscaling of a role.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalingSpec {
    /// Lowest number of pods (1 to 100).
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub min_replicas: i32,
    /// Highest number of pods (1 to 100).
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: i32,
    /// Average CPU utilisation (percent of the request) the autoscaler aims at (10 to 100).
    #[serde(default = "default_cpu_target")]
    #[schemars(range(min = 10, max = 100))]
    pub target_cpu_utilization_percentage: i32,
}

fn default_cpu_target() -> i32 {
    75
}

/// Whether a dependency is run by the operator or provided.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DependencyMode {
    /// The operator runs a single-node StatefulSet with a PersistentVolumeClaim (development
    /// clusters).
    #[default]
    Managed,
    /// An existing server at `endpoint`, administered with the credentials in `secretRef`.
    External,
}

/// A data store: managed by the operator or external.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DependencySpec {
    /// `Managed` (default) or `External`.
    #[serde(default)]
    pub mode: DependencyMode,
    /// External address: `host:port` for PostgreSQL and Redis, an `http(s)://` URL for object
    /// storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub endpoint: Option<String>,
    /// Secret (in the Storefront's namespace) with admin credentials of an external server:
    /// `username` and `password` for PostgreSQL and Redis, `accessKey` and `secretKey` (and
    /// optionally `region`) for object storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    /// Size of the managed server's volume. Default `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Container image of the managed server (a sensible default per dependency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Kafka: where it is and how topics are made.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSpec {
    /// `Managed` (default) or `External`.
    #[serde(default)]
    pub mode: DependencyMode,
    /// External bootstrap servers, comma-separated `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub endpoint: Option<String>,
    /// Size of the managed broker's volume. Default `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Container image of the managed broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Partitions of each topic (1 to 1000). Default 3.
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 1000))]
    pub partitions: i32,
    /// Replication factor of each topic (1 to 10). Default 1.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = 10))]
    pub replication_factor: i32,
    /// `retention.ms` of each topic; -1 keeps messages forever. Default 7 days.
    #[serde(default = "default_retention")]
    #[schemars(range(min = -1))]
    pub retention_ms: i64,
}

fn default_partitions() -> i32 {
    3
}
fn default_retention() -> i64 {
    7 * 24 * 3600 * 1000
}

impl Default for KafkaSpec {
    fn default() -> Self {
        Self {
            mode: DependencyMode::Managed,
            endpoint: None,
            storage: None,
            image: None,
            partitions: default_partitions(),
            replication_factor: 1,
            retention_ms: default_retention(),
        }
    }
}

/// The Ingress of the gateway.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Whether an Ingress is created. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Host name the Ingress answers for; empty: any host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// IngressClass name (e.g. `nginx`); empty: the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Secret with the TLS certificate for `host`; when set the gateway URL is https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
}

impl Default for IngressSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            host: None,
            class_name: None,
            tls_secret_name: None,
        }
    }
}

/// Access-token signing keys (Ed25519).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// `iss` claim of issued tokens. Default `storefront`.
    #[serde(default = "default_issuer")]
    #[schemars(length(min = 1))]
    pub issuer: String,
    /// Secret with the signing keys (key `keys.pem`: PKCS#8 PEM private keys, the last one
    /// signs). Empty: the operator generates `<name>-auth-keys` once and keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    /// Raise to rotate generated keys: each new value adds a key that signs from then on; the
    /// previous keys stay published for verification up to `retainedKeys`.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub rotation: i32,
    /// How many generated keys are kept (1 to 10). Default 2.
    #[serde(default = "default_retained_keys")]
    #[schemars(range(min = 1, max = 10))]
    pub retained_keys: i32,
}

fn default_issuer() -> String {
    "storefront".into()
}
fn default_retained_keys() -> i32 {
    2
}

impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            issuer: default_issuer(),
            secret_ref: None,
            rotation: 0,
            retained_keys: default_retained_keys(),
        }
    }
}

/// Outgoing mail server of the notification role (plain SMTP, optional authentication).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SmtpSpec {
    /// SMTP host. Empty: the notification role's default (a local sink on 127.0.0.1:1025).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// SMTP port (1 to 65535). Default 587.
    #[serde(default = "default_smtp_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Sender of every e-mail (`Name <address>`). Empty: the notification role's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Secret with `username` and `password` for SMTP authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
}

fn default_smtp_port() -> i32 {
    587
}

impl Default for SmtpSpec {
    fn default() -> Self {
        Self {
            host: None,
            port: default_smtp_port(),
            from: None,
            secret_ref: None,
        }
    }
}

/// The web shop.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebSpec {
    /// Serve the shop built into the image (`/usr/share/storefront/web`). Off: the gateway
    /// serves only the API (for a shop hosted elsewhere, e.g. a CDN).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Where the built shop is inside the image.
    #[serde(default = "default_web_dir")]
    #[schemars(length(min = 1))]
    pub dir: String,
}

fn default_web_dir() -> String {
    "/usr/share/storefront/web".into()
}

impl Default for WebSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: default_web_dir(),
        }
    }
}

/// What deleting a Storefront does to its data.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    /// Keep databases, topics and buckets (and release the claim on them).
    #[default]
    Retain,
    /// Drop databases and roles, delete topics, empty and delete buckets.
    Delete,
}

/// What the operator observed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct StorefrontStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `DatabasesReady`, `TopicsReady`, `BucketsReady`, `WorkloadsReady` (and
    /// `ResourceConflict` when another Storefront owns a resource this one needs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Ready pods per role.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ready_replicas: BTreeMap<String, i32>,
    /// Where the public REST API answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_url: Option<String>,
    /// Every external resource the operator ever provisioned for this Storefront (roles
    /// disabled since and old prefixes included), so that deletion cleans up all of them.
    #[serde(default, skip_serializing_if = "Provisioned::is_empty")]
    pub provisioned: Provisioned,
    /// Whether the Redis server supports ACLs (then the roles use the Storefront's own ACL
    /// user), as last observed; kept so that a passing Redis outage does not change the
    /// credentials the roles get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_acl: Option<bool>,
    /// Whether the object store has per-role users (MinIO's admin API), as last observed: then
    /// each role that stores objects holds keys for its own bucket only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_users: Option<bool>,
    /// Failed cleanup attempts since deletion began (deletion gives up, with a warning event
    /// naming what may be left, after the operator's `--cleanup-attempts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_attempts: Option<i32>,
}

/// External resources provisioned for a Storefront (sorted, without duplicates).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Provisioned {
    /// PostgreSQL databases with the login role that owns each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<ProvisionedDatabase>,
    /// Kafka topics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// S3 buckets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<String>,
    /// Redis ACL users with the key pattern each was limited to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redis_users: Vec<ProvisionedRedisUser>,
    /// Per-role object-store users (access keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub s3_users: Vec<String>,
}

impl Provisioned {
    pub fn is_empty(&self) -> bool {
        self.databases.is_empty()
            && self.topics.is_empty()
            && self.buckets.is_empty()
            && self.redis_users.is_empty()
            && self.s3_users.is_empty()
    }

    /// `self` with `other`'s resources added (sorted, deduplicated).
    pub fn union(&self, other: &Provisioned) -> Provisioned {
        fn merge<T: Clone + Ord>(a: &[T], b: &[T]) -> Vec<T> {
            let set: std::collections::BTreeSet<T> = a.iter().chain(b).cloned().collect();
            set.into_iter().collect()
        }
        Provisioned {
            databases: merge(&self.databases, &other.databases),
            topics: merge(&self.topics, &other.topics),
            buckets: merge(&self.buckets, &other.buckets),
            redis_users: merge(&self.redis_users, &other.redis_users),
            s3_users: merge(&self.s3_users, &other.s3_users),
        }
    }
}

/// A provisioned database.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedDatabase {
    /// Database name.
    pub name: String,
    /// The login role that owns it.
    pub owner: String,
}

/// A provisioned Redis ACL user.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedRedisUser {
    /// ACL user name.
    pub username: String,
    /// The key prefix it was limited to (empty: every key).
    pub prefix: String,
}

/// A condition in the usual Kubernetes shape.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One CamelCase word saying why.
    pub reason: String,
    /// What a person can act on.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The generation the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The CRD as YAML, as `storefront-operator crd` prints it.
pub fn crd_yaml() -> String {
    let crd = Storefront::crd();
    let body = serde_yaml::to_string(&crd).expect("the CRD serialises");
    format!(
        "# Generated by `cargo run -p storefront-operator -- crd > crds/storefront.yaml`; do not edit.\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGENERATE: &str = "cargo run -p storefront-operator -- crd > crds/storefront.yaml";

    #[test]
    fn crd_file_matches_the_rust_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/storefront.yaml");
        let on_disk = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {path}: {e}; generate it with `{REGENERATE}`"));
        assert!(
            on_disk == crd_yaml(),
            "crds/storefront.yaml differs from the Rust types; regenerate it with `{REGENERATE}`"
        );
    }

    #[test]
    fn chart_crd_matches_crds_folder() {
        let crd = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/storefront.yaml");
        let chart = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../charts/storefront-operator/crds/storefront.yaml"
        );
        let a = std::fs::read_to_string(crd).unwrap();
        let b = std::fs::read_to_string(chart).unwrap();
        assert!(
            a == b,
            "charts/storefront-operator/crds/storefront.yaml differs from crds/storefront.yaml; \
             copy it: `cp crds/storefront.yaml charts/storefront-operator/crds/`"
        );
    }

    #[test]
    fn crd_has_names_columns_status_and_validation() {
        let v = serde_json::to_value(Storefront::crd()).unwrap();
        assert_eq!(v["spec"]["group"], "storefront.io");
        assert_eq!(v["spec"]["names"]["shortNames"][0], "sf");
        assert_eq!(v["spec"]["scope"], "Namespaced");
        let ver = &v["spec"]["versions"][0];
        assert_eq!(ver["name"], "v1alpha1");
        assert!(ver["subresources"]["status"].is_object());
        let cols: Vec<&str> = ver["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(cols, ["Ready", "Gateway URL", "Age"]);
        let text = crd_yaml();
        let top = ver["schema"]["openAPIV3Schema"]["description"]
            .as_str()
            .unwrap();
        assert!(top.starts_with("A whole Storefront"), "{top}");
        assert!(!text.contains("Auto-generated derived type"));
        assert!(text.contains("x-kubernetes-validations"));
        assert!(text.contains("an External postgres needs endpoint and secretRef"));
        let spec = &ver["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        assert_eq!(
            spec["deletionPolicy"]["enum"],
            serde_json::json!(["Retain", "Delete"])
        );
        assert_eq!(
            spec["roles"]["properties"]["gateway"]["properties"]["replicas"]["maximum"],
            50.0
        );
    }

    #[test]
    fn every_field_has_a_description() {
        fn walk(path: &str, v: &serde_json::Value, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                for (k, child) in props {
                    let p = format!("{path}.{k}");
                    // Types from k8s-openapi (resources, env) carry their own documentation.
                    let external = p.contains(".resources.") || p.contains(".env.");
                    if !external && child.get("description").is_none() {
                        missing.push(p.clone());
                    }
                    walk(&p, child, missing);
                    if let Some(items) = child.get("items") {
                        walk(&p, items, missing);
                    }
                }
            }
        }
        let v = serde_json::to_value(Storefront::crd()).unwrap();
        let root = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut missing = Vec::new();
        walk("", &root["properties"]["spec"], &mut missing);
        walk("", &root["properties"]["status"], &mut missing);
        assert!(
            missing.is_empty(),
            "fields without description: {missing:?}"
        );
    }

    #[test]
    fn empty_spec_takes_the_defaults() {
        let s: StorefrontSpec = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(s, StorefrontSpec::default());
        assert_eq!(s.image.repository, "storefront");
        assert_eq!(s.roles.gateway.replicas, 1);
        assert!(s.roles.cart.enabled);
        assert_eq!(s.kafka.partitions, 3);
        assert_eq!(s.deletion_policy, DeletionPolicy::Retain);
        assert_eq!(s.postgres.mode, DependencyMode::Managed);
        assert!(s.ingress.enabled);
        assert_eq!(s.auth.retained_keys, 2);
    }
}

#[cfg(test)]
mod packaging_tests {
    //! The YAML that ships beside the crate: well-formed, and the example matches the types.
    use super::*;

    fn read(rel: &str) -> String {
        let path = format!("{}/../{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    #[test]
    fn example_storefront_is_valid_for_the_types() {
        let sf: Storefront = serde_yaml::from_str(&read(
            "charts/storefront-operator/examples/storefront-kind.yaml",
        ))
        .expect("the kind example parses as a Storefront");
        assert_eq!(sf.spec.image.pull_policy, PullPolicy::Never);
        assert_eq!(sf.spec.postgres.mode, DependencyMode::Managed);
        assert_eq!(sf.spec.ingress.host.as_deref(), Some("localhost"));
    }

    /// The dashboard is valid JSON whose queries name metrics the platform and the operator
    /// export; the ClusterRole lets the operator post events and PodMonitors.
    #[test]
    fn dashboard_and_rbac_match_what_the_operator_does() {
        let dash: serde_json::Value = serde_json::from_str(&read(
            "charts/storefront-operator/dashboards/storefront.json",
        ))
        .expect("the dashboard is JSON");
        let exprs: Vec<String> = dash["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap().clone())
            .map(|t| t["expr"].as_str().unwrap().to_string())
            .collect();
        assert!(exprs.len() >= 8);
        for metric in [
            "storefront_http_requests_total",
            "storefront_http_request_duration_seconds_bucket",
            "storefront_events_consumed_total",
            "storefront_operator_reconciles_total",
        ] {
            assert!(
                exprs.iter().any(|e| e.contains(metric)),
                "no panel for {metric}"
            );
        }
        let rbac = read("charts/storefront-operator/templates/clusterrole.yaml");
        for needle in ["events.k8s.io", "monitoring.coreos.com", "podmonitors"] {
            assert!(rbac.contains(needle), "ClusterRole lacks {needle}");
        }
        let sm = read("charts/storefront-operator/templates/servicemonitor.yaml");
        assert!(
            sm.contains(
                ".Capabilities.APIVersions.Has \"monitoring.coreos.com/v1/ServiceMonitor\""
            )
        );
    }

    #[test]
    fn workflow_chart_and_kind_config_are_well_formed_yaml() {
        for f in [
            ".github/workflows/kind-e2e.yml",
            "charts/storefront-operator/Chart.yaml",
            "charts/storefront-operator/values.yaml",
            "kind-config.yaml",
        ] {
            let v: serde_yaml::Value =
                serde_yaml::from_str(&read(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(v.is_mapping(), "{f}");
        }
        let wf: serde_yaml::Value =
            serde_yaml::from_str(&read(".github/workflows/kind-e2e.yml")).unwrap();
        let steps = format!("{:?}", wf["jobs"]["kind-e2e"]["steps"]);
        for needle in [
            "kind-config.yaml",
            "kind load docker-image",
            "helm install",
            "condition=Ready",
            "/api/v1/products",
        ] {
            assert!(steps.contains(needle), "workflow lacks {needle}");
        }
        let values: serde_yaml::Value =
            serde_yaml::from_str(&read("charts/storefront-operator/values.yaml")).unwrap();
        for key in ["image", "resources", "leaderElection", "logLevel"] {
            assert!(!values[key].is_null(), "values.yaml lacks {key}");
        }
        let kind: serde_yaml::Value = serde_yaml::from_str(&read("kind-config.yaml")).unwrap();
        let ports = format!("{:?}", kind["nodes"][0]["extraPortMappings"]);
        assert!(ports.contains("80") && ports.contains("443"));
    }
}
