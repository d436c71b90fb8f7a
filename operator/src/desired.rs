//! The pure "desired state" step: from a `Storefront` (and the few values the executor looked
//! up: generated passwords, the credentials the roles use for Redis and S3) to the Kubernetes
//! objects and the external resources (databases, topics, buckets, Redis user) it should have.
//! No I/O here, so every spec field's effect is unit-tested.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, LocalObjectReference,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SeccompProfile, Secret, SecretEnvSource, SecretKeySelector,
    SecretVolumeSource, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec as K8sIngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use crate::crd::{DependencyMode, Storefront};
use crate::roles::Role;

/// Label every object the operator makes carries (with the Storefront's name as value); the
/// operator's watches select on it.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/managed-by` value of every child.
pub const MANAGER: &str = "storefront-operator";
/// Where the auth role finds its signing keys.
pub const AUTH_KEYS_PATH: &str = "/etc/storefront/auth-keys";
/// The key of the auth keys Secret that holds the PEM keys.
pub const AUTH_KEYS_FILE: &str = "keys.pem";
/// UID the `storefront` image runs as (distroless `nonroot`).
pub const RUN_AS_USER: i64 = 65532;

/// Values the executor looked up that the desired state depends on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs {
    /// The generated Secret's data (`<name>-generated`): passwords, managed credentials.
    pub generated: BTreeMap<String, String>,
    /// User and password the roles connect to Redis with (the per-storefront ACL user, or the
    /// admin account when the server has no ACLs); `None`: no authentication.
    pub redis_auth: Option<(String, String)>,
    /// Access key, secret key and region the roles use for S3.
    pub s3: S3Access,
    /// The store has per-role users: each role that stores objects gets its own keys
    /// ([`Desired::s3_users`]) instead of `s3`'s.
    pub s3_role_users: bool,
}

/// Credentials for the object store.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Access {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

impl Default for S3Access {
    fn default() -> Self {
        Self {
            access_key: String::new(),
            secret_key: String::new(),
            region: "us-east-1".into(),
        }
    }
}

/// One Kubernetes object to apply.
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    ConfigMap(ConfigMap),
    Secret(Secret),
    ServiceAccount(ServiceAccount),
    Service(Service),
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    PodDisruptionBudget(PodDisruptionBudget),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    Ingress(Ingress),
}

impl Child {
    /// The object's metadata, to stamp annotations on before applying.
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Child::ConfigMap(o) => &mut o.metadata,
            Child::Secret(o) => &mut o.metadata,
            Child::ServiceAccount(o) => &mut o.metadata,
            Child::Service(o) => &mut o.metadata,
            Child::Deployment(o) => &mut o.metadata,
            Child::StatefulSet(o) => &mut o.metadata,
            Child::PodDisruptionBudget(o) => &mut o.metadata,
            Child::HorizontalPodAutoscaler(o) => &mut o.metadata,
            Child::Ingress(o) => &mut o.metadata,
        }
    }

    /// A short digest of the whole object as it would be applied.
    pub fn digest(&self) -> String {
        let json = match self {
            Child::ConfigMap(o) => serde_json::to_vec(o),
            Child::Secret(o) => serde_json::to_vec(o),
            Child::ServiceAccount(o) => serde_json::to_vec(o),
            Child::Service(o) => serde_json::to_vec(o),
            Child::Deployment(o) => serde_json::to_vec(o),
            Child::StatefulSet(o) => serde_json::to_vec(o),
            Child::PodDisruptionBudget(o) => serde_json::to_vec(o),
            Child::HorizontalPodAutoscaler(o) => serde_json::to_vec(o),
            Child::Ingress(o) => serde_json::to_vec(o),
        }
        .expect("Kubernetes objects serialise");
        hex::encode(&Sha256::digest(&json)[..8])
    }

    /// `Kind/name`, for logs and tests.
    pub fn id(&self) -> String {
        let (kind, meta) = match self {
            Child::ConfigMap(o) => ("ConfigMap", &o.metadata),
            Child::Secret(o) => ("Secret", &o.metadata),
            Child::ServiceAccount(o) => ("ServiceAccount", &o.metadata),
            Child::Service(o) => ("Service", &o.metadata),
            Child::Deployment(o) => ("Deployment", &o.metadata),
            Child::StatefulSet(o) => ("StatefulSet", &o.metadata),
            Child::PodDisruptionBudget(o) => ("PodDisruptionBudget", &o.metadata),
            Child::HorizontalPodAutoscaler(o) => ("HorizontalPodAutoscaler", &o.metadata),
            Child::Ingress(o) => ("Ingress", &o.metadata),
        };
        format!("{kind}/{}", meta.name.as_deref().unwrap_or_default())
    }
}

/// A database and the role that owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabasePlan {
    pub database: String,
    pub owner: String,
    pub password: String,
}

/// A Kafka topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPlan {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub retention_ms: i64,
}

/// The per-storefront Redis ACL user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisUserPlan {
    pub username: String,
    pub password: String,
    /// Key pattern the user may touch (`<prefix>:*`, or `*` without a prefix).
    pub key_pattern: String,
    /// The Storefront's key prefix (`<prefix>:`, or empty): what its claim covers.
    pub prefix: String,
}

/// The object-store user of one role that stores objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3UserPlan {
    pub role: String,
    pub access_key: String,
    pub secret_key: String,
    /// The buckets its policy allows.
    pub buckets: Vec<String>,
}

/// Everything the Storefront should have.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub children: Vec<Child>,
    /// Ids ([`Child::id`]) of the children that run managed dependencies (servers the
    /// provisioning needs first); the rest are the roles' objects.
    pub dependency_ids: std::collections::BTreeSet<String>,
    pub databases: Vec<DatabasePlan>,
    pub topics: Vec<TopicPlan>,
    pub buckets: Vec<String>,
    pub redis_user: RedisUserPlan,
    /// Per-role object-store users (used where the store supports them).
    pub s3_users: Vec<S3UserPlan>,
    /// The roles that run, with the replicas expected when autoscaling is off.
    pub roles: Vec<(Role, i32)>,
    pub gateway_url: String,
}

/// Names derived from a Storefront: one place, so the executor, tests and docs agree.
#[derive(Clone, Debug)]
pub struct Names {
    pub name: String,
    pub namespace: String,
    prefix: Option<String>,
}

impl Names {
    pub fn of(sf: &Storefront) -> Self {
        Self {
            name: sf.name_any(),
            namespace: sf.namespace().unwrap_or_else(|| "default".into()),
            prefix: sf.spec.prefix.clone().filter(|p| !p.is_empty()),
        }
    }
    /// Object name of a role's Deployment, Service, ServiceAccount, ConfigMap, ...
    pub fn role(&self, role: Role) -> String {
        format!("{}-{}", self.name, role.name())
    }
    pub fn role_secret(&self, role: Role) -> String {
        format!("{}-{}-env", self.name, role.name())
    }
    pub fn shared_config(&self) -> String {
        format!("{}-config", self.name)
    }
    pub fn generated_secret(&self) -> String {
        format!("{}-generated", self.name)
    }
    pub fn auth_keys_secret(&self) -> String {
        format!("{}-auth-keys", self.name)
    }
    /// Service (and StatefulSet) name of a managed dependency.
    pub fn managed(&self, what: &str) -> String {
        format!("{}-{what}", self.name)
    }
    /// `kit::config::PostgresSettings::database_prefix`.
    pub fn database_prefix(&self) -> String {
        self.prefix
            .as_ref()
            .map(|p| format!("{}_", p.replace('-', "_")))
            .unwrap_or_default()
    }
    /// The database of a role, exactly as `kit::db::database_name` names it.
    pub fn database(&self, role: Role) -> String {
        let settings = storefront_kit::config::PostgresSettings {
            database_prefix: self.database_prefix(),
            ..Default::default()
        };
        storefront_kit::db::database_name(&settings, role.name())
    }
    /// The PostgreSQL role that owns a role's database.
    pub fn database_owner(&self, role: Role) -> String {
        format!("{}{}_svc", self.database_prefix(), role.name())
    }
    /// Topic and bucket prefix.
    pub fn dash_prefix(&self) -> String {
        self.prefix
            .as_ref()
            .map(|p| format!("{p}-"))
            .unwrap_or_default()
    }
    /// Redis key prefix.
    pub fn redis_prefix(&self) -> String {
        self.prefix
            .as_ref()
            .map(|p| format!("{p}:"))
            .unwrap_or_default()
    }
    /// The per-storefront Redis ACL user.
    pub fn redis_user(&self) -> String {
        redis_username(&self.namespace, &self.name)
    }
    fn svc_host(&self, service: &str) -> String {
        format!("{service}.{}.svc.cluster.local", self.namespace)
    }
}

/// The Redis ACL user of the Storefront `namespace/name`.
pub fn redis_username(namespace: &str, name: &str) -> String {
    format!("storefront-{namespace}-{name}")
}

/// Keys of the generated Secret this spec needs; the executor creates missing ones once and
/// never regenerates a present one.
pub fn generated_keys(sf: &Storefront) -> Vec<String> {
    let mut keys = vec!["redis-user-password".to_string(), PAYMENT_KEY.to_string()];
    for role in Role::ALL.iter().filter(|r| r.has_database()) {
        keys.push(db_password_key(*role));
    }
    if sf.spec.postgres.mode == DependencyMode::Managed {
        keys.push("postgres-admin-password".into());
    }
    if sf.spec.redis.mode == DependencyMode::Managed {
        keys.push("redis-admin-password".into());
    }
    for role in Role::ALL.iter().filter(|r| r.uses_object_storage()) {
        keys.push(s3_secret_key(*role));
    }
    if sf.spec.object_storage.mode == DependencyMode::Managed {
        keys.push("s3-access-key".into());
        keys.push("s3-secret-key".into());
    }
    keys
}

/// The generated AES-256 key of the payment role (provider tokens at rest).
pub const PAYMENT_KEY: &str = "payment-encryption-key";

fn s3_secret_key(role: Role) -> String {
    format!("s3-{}-secret-key", role.name())
}

/// The object-store user of `role` of the Storefront `namespace/name` (at most 20
/// characters, as MinIO requires of access keys).
pub fn s3_access_key(namespace: &str, name: &str, role: Role) -> String {
    let h = Sha256::digest(format!("{namespace}/{name}").as_bytes());
    format!("sf-{}-{}", &hex::encode(h)[..12], &role.name()[..1])
}

fn db_password_key(role: Role) -> String {
    format!("db-{}-password", role.name())
}

/// Where PostgreSQL, Redis, Kafka and S3 answer (managed: the in-cluster Service).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// `host:port`.
    pub postgres: String,
    /// `host:port`.
    pub redis: String,
    /// Bootstrap servers.
    pub kafka: String,
    /// `http(s)://...`.
    pub s3: String,
}

pub fn endpoints(sf: &Storefront) -> Endpoints {
    let n = Names::of(sf);
    let pick = |mode: DependencyMode, ext: &Option<String>, managed: String| match mode {
        DependencyMode::External => ext.clone().unwrap_or_default(),
        DependencyMode::Managed => managed,
    };
    let s = &sf.spec;
    Endpoints {
        postgres: pick(
            s.postgres.mode,
            &s.postgres.endpoint,
            format!("{}:5432", n.svc_host(&n.managed("postgres"))),
        ),
        redis: pick(
            s.redis.mode,
            &s.redis.endpoint,
            format!("{}:6379", n.svc_host(&n.managed("redis"))),
        ),
        kafka: pick(
            s.kafka.mode,
            &s.kafka.endpoint,
            format!("{}:9092", n.svc_host(&n.managed("kafka"))),
        ),
        s3: pick(
            s.object_storage.mode,
            &s.object_storage.endpoint,
            format!("http://{}:9000", n.svc_host(&n.managed("minio"))),
        ),
    }
}

/// The public URL of the gateway: the Ingress host when set, else the in-cluster Service.
pub fn gateway_url(sf: &Storefront) -> String {
    let n = Names::of(sf);
    match (&sf.spec.ingress.host, sf.spec.ingress.enabled) {
        (Some(h), true) if !h.is_empty() => {
            let scheme = if sf.spec.ingress.tls_secret_name.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{h}")
        }
        _ => format!("http://{}:3000", n.svc_host(&n.role(Role::Gateway))),
    }
}

/// The desired state of `sf`.
pub fn desired(sf: &Storefront, inputs: &Inputs) -> Desired {
    let n = Names::of(sf);
    let owner = sf
        .controller_owner_ref(&())
        .unwrap_or_else(|| OwnerReference {
            api_version: "storefront.io/v1alpha1".into(),
            kind: "Storefront".into(),
            name: n.name.clone(),
            uid: sf.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        });
    let ep = endpoints(sf);
    let mut children = Vec::new();

    // Shared configuration of every role.
    let shared = shared_config(sf, &n, &ep);
    children.push(Child::ConfigMap(ConfigMap {
        metadata: meta(&n, &n.shared_config(), None, &owner),
        data: Some(shared.clone()),
        ..Default::default()
    }));

    let mut roles = Vec::new();
    for role in Role::ALL {
        let rs = sf.spec.roles.get(role);
        if !rs.enabled {
            continue;
        }
        roles.push((role, rs.replicas));
        let own = role_config(sf, &n, role);
        let secret = role_secret_data(sf, &n, &ep, inputs, role);
        // Pods restart when their configuration changes (envFrom is read only at start).
        let hash = config_hash(&[&shared, &own, &secret]);
        children.push(Child::ConfigMap(ConfigMap {
            metadata: meta(&n, &n.role(role), Some(role), &owner),
            data: Some(own),
            ..Default::default()
        }));
        children.push(Child::Secret(Secret {
            metadata: meta(&n, &n.role_secret(role), Some(role), &owner),
            data: Some(
                secret
                    .into_iter()
                    .map(|(k, v)| (k, ByteString(v.into_bytes())))
                    .collect(),
            ),
            type_: Some("Opaque".into()),
            ..Default::default()
        }));
        children.push(Child::ServiceAccount(ServiceAccount {
            metadata: meta(&n, &n.role(role), Some(role), &owner),
            automount_service_account_token: Some(false),
            ..Default::default()
        }));
        children.push(Child::Service(service(&n, role, &owner)));
        children.push(Child::Deployment(deployment(sf, &n, role, &hash, &owner)));
        children.push(Child::PodDisruptionBudget(PodDisruptionBudget {
            metadata: meta(&n, &n.role(role), Some(role), &owner),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(selector(&n, role)),
                ..Default::default()
            }),
            ..Default::default()
        }));
        if let Some(a) = &rs.autoscaling {
            children.push(Child::HorizontalPodAutoscaler(HorizontalPodAutoscaler {
                metadata: meta(&n, &n.role(role), Some(role), &owner),
                spec: HorizontalPodAutoscalerSpec {
                    scale_target_ref: CrossVersionObjectReference {
                        api_version: Some("apps/v1".into()),
                        kind: "Deployment".into(),
                        name: n.role(role),
                    },
                    min_replicas: Some(a.min_replicas),
                    max_replicas: a.max_replicas,
                    metrics: Some(vec![MetricSpec {
                        type_: "Resource".into(),
                        resource: Some(ResourceMetricSource {
                            name: "cpu".into(),
                            target: MetricTarget {
                                type_: "Utilization".into(),
                                average_utilization: Some(a.target_cpu_utilization_percentage),
                                ..Default::default()
                            },
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                ..Default::default()
            }));
        }
    }

    if sf.spec.ingress.enabled && sf.spec.roles.gateway.enabled {
        children.push(Child::Ingress(ingress(sf, &n, &owner)));
    }

    let mut dependencies = Vec::new();
    managed_dependencies(sf, &n, &owner, &mut dependencies);
    let dependency_ids = dependencies.iter().map(Child::id).collect();
    children.extend(dependencies);

    let databases = Role::ALL
        .iter()
        .filter(|r| r.has_database() && sf.spec.roles.get(**r).enabled)
        .map(|r| DatabasePlan {
            database: n.database(*r),
            owner: n.database_owner(*r),
            password: inputs
                .generated
                .get(&db_password_key(*r))
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    let topics = storefront_kit::events::topics::ALL
        .iter()
        .map(|t| TopicPlan {
            name: format!("{}{t}", n.dash_prefix()),
            partitions: sf.spec.kafka.partitions,
            replication_factor: sf.spec.kafka.replication_factor,
            retention_ms: sf.spec.kafka.retention_ms,
        })
        .collect();
    let buckets = ["product-images", "user-avatars"]
        .iter()
        .map(|b| format!("{}{b}", n.dash_prefix()))
        .collect();
    let s3_users = roles
        .iter()
        .filter(|(r, _)| r.uses_object_storage())
        .map(|(r, _)| S3UserPlan {
            role: r.name().into(),
            access_key: s3_access_key(&n.namespace, &n.name, *r),
            secret_key: inputs
                .generated
                .get(&s3_secret_key(*r))
                .cloned()
                .unwrap_or_default(),
            buckets: vec![format!(
                "{}{}",
                n.dash_prefix(),
                r.bucket().unwrap_or_default()
            )],
        })
        .collect();
    let redis_prefix = n.redis_prefix();
    let redis_user = RedisUserPlan {
        username: n.redis_user(),
        password: inputs
            .generated
            .get("redis-user-password")
            .cloned()
            .unwrap_or_default(),
        key_pattern: format!("{redis_prefix}*"),
        prefix: redis_prefix,
    };
    Desired {
        children,
        dependency_ids,
        databases,
        topics,
        buckets,
        redis_user,
        s3_users,
        roles,
        gateway_url: gateway_url(sf),
    }
}

fn labels(n: &Names, role: Option<Role>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "storefront".to_string(),
        ),
        (INSTANCE_LABEL.to_string(), n.name.clone()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            MANAGER.to_string(),
        ),
    ]);
    if let Some(r) = role {
        l.insert("app.kubernetes.io/component".into(), r.name().into());
    }
    l
}

fn selector_labels(n: &Names, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (INSTANCE_LABEL.to_string(), n.name.clone()),
        (
            "app.kubernetes.io/component".to_string(),
            component.to_string(),
        ),
    ])
}

fn selector(n: &Names, role: Role) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(n, role.name())),
        ..Default::default()
    }
}

fn meta(n: &Names, name: &str, role: Option<Role>, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(n.namespace.clone()),
        labels: Some(labels(n, role)),
        owner_references: Some(vec![owner.clone()]),
        ..Default::default()
    }
}

fn env_map(pairs: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    pairs.into_iter().collect()
}

fn shared_config(sf: &Storefront, n: &Names, ep: &Endpoints) -> BTreeMap<String, String> {
    let auth_host = n.svc_host(&n.role(Role::Auth));
    env_map([
        (
            "STOREFRONT_POSTGRES__DATABASE_PREFIX".into(),
            n.database_prefix(),
        ),
        ("STOREFRONT_REDIS__KEY_PREFIX".into(), n.redis_prefix()),
        ("STOREFRONT_KAFKA__BROKERS".into(), ep.kafka.clone()),
        ("STOREFRONT_KAFKA__TOPIC_PREFIX".into(), n.dash_prefix()),
        ("STOREFRONT_S3__ENDPOINT".into(), ep.s3.clone()),
        ("STOREFRONT_S3__BUCKET_PREFIX".into(), n.dash_prefix()),
        ("STOREFRONT_TELEMETRY__LOG_FORMAT".into(), "json".into()),
        (
            "STOREFRONT_AUTH__JWKS_URL".into(),
            format!("http://{auth_host}:3001/.well-known/jwks.json"),
        ),
        (
            "STOREFRONT_AUTH__ISSUER".into(),
            sf.spec.auth.issuer.clone(),
        ),
    ])
}

/// The in-cluster address another role calls `up` at.
fn role_url(n: &Names, up: Role) -> String {
    format!("http://{}:{}", n.svc_host(&n.role(up)), up.port())
}

fn role_config(sf: &Storefront, n: &Names, role: Role) -> BTreeMap<String, String> {
    let section = role.name().to_ascii_uppercase();
    let mut m = env_map([(
        format!("STOREFRONT_{section}__LISTEN"),
        format!("0.0.0.0:{}", role.port()),
    )]);
    match role {
        Role::Gateway => {
            if sf.spec.web.enabled {
                m.insert(
                    "STOREFRONT_GATEWAY__WEB_DIR".into(),
                    sf.spec.web.dir.clone(),
                );
            }
            for up in Role::gateway_upstreams() {
                m.insert(
                    format!(
                        "STOREFRONT_GATEWAY__UPSTREAMS__{}",
                        up.name().to_ascii_uppercase()
                    ),
                    role_url(n, up),
                );
            }
        }
        Role::Auth => {
            m.insert(
                "STOREFRONT_AUTH__KEYS__FILE".into(),
                format!("{AUTH_KEYS_PATH}/{AUTH_KEYS_FILE}"),
            );
            m.insert("STOREFRONT_AUTH__KEYS__GENERATE".into(), "false".into());
        }
        Role::Notification => {
            let smtp = &sf.spec.smtp;
            if let Some(h) = &smtp.host {
                m.insert("STOREFRONT_NOTIFICATION__SMTP__HOST".into(), h.clone());
                m.insert(
                    "STOREFRONT_NOTIFICATION__SMTP__PORT".into(),
                    smtp.port.to_string(),
                );
            }
            if let Some(f) = &smtp.from {
                m.insert("STOREFRONT_NOTIFICATION__FROM".into(), f.clone());
            }
        }
        Role::Order => {
            for (key, up) in [
                ("ORDER__PRODUCT_URL", Role::Product),
                ("ORDER__INVENTORY_URL", Role::Inventory),
                ("ORDER__CART_URL", Role::Cart),
            ] {
                m.insert(format!("STOREFRONT_{key}"), role_url(n, up));
            }
        }
        Role::Cart => {
            for (key, up) in [
                ("CART__UPSTREAMS__PRODUCT", Role::Product),
                ("CART__UPSTREAMS__INVENTORY", Role::Inventory),
                ("CART__UPSTREAMS__ORDER", Role::Order),
            ] {
                m.insert(format!("STOREFRONT_{key}"), role_url(n, up));
            }
        }
        Role::Recommendation => {
            m.insert(
                "STOREFRONT_RECOMMENDATION__PRODUCT_URL".into(),
                role_url(n, Role::Product),
            );
        }
        Role::Product => {
            // Catalog images at the gateway's media route, at the address clients use.
            m.insert(
                "STOREFRONT_PRODUCT__IMAGE_URL_BASE".into(),
                format!("{}/api/v1/media", gateway_url(sf)),
            );
        }
        _ => {}
    }
    m
}

fn role_secret_data(
    sf: &Storefront,
    n: &Names,
    ep: &Endpoints,
    inputs: &Inputs,
    role: Role,
) -> BTreeMap<String, String> {
    let _ = sf;
    let mut m = BTreeMap::new();
    if role.has_database() {
        let pw = inputs
            .generated
            .get(&db_password_key(role))
            .cloned()
            .unwrap_or_default();
        m.insert(
            "STOREFRONT_POSTGRES__URL".into(),
            format!(
                "postgres://{}:{pw}@{}/{}",
                n.database_owner(role),
                ep.postgres,
                n.database(role)
            ),
        );
    }
    let redis = match &inputs.redis_auth {
        Some((u, p)) => format!("redis://{u}:{p}@{}", ep.redis),
        None => format!("redis://{}", ep.redis),
    };
    m.insert("STOREFRONT_REDIS__URL".into(), redis);
    if role == Role::Payment
        && let Some(k) = inputs.generated.get(PAYMENT_KEY)
    {
        m.insert("STOREFRONT_PAYMENT__ENCRYPTION_KEY".into(), k.clone());
    }
    // Least privilege: only the roles that store objects get keys, their own where the store
    // has per-role users.
    if role.uses_object_storage() {
        let (access, secret) = if inputs.s3_role_users {
            (
                s3_access_key(&n.namespace, &n.name, role),
                inputs
                    .generated
                    .get(&s3_secret_key(role))
                    .cloned()
                    .unwrap_or_default(),
            )
        } else {
            (inputs.s3.access_key.clone(), inputs.s3.secret_key.clone())
        };
        m.insert("STOREFRONT_S3__ACCESS_KEY".into(), access);
        m.insert("STOREFRONT_S3__SECRET_KEY".into(), secret);
        m.insert("STOREFRONT_S3__REGION".into(), inputs.s3.region.clone());
    }
    m
}

fn config_hash(parts: &[&BTreeMap<String, String>]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        for (k, v) in p.iter() {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
    }
    hex::encode(&h.finalize()[..8])
}

fn service(n: &Names, role: Role, owner: &OwnerReference) -> Service {
    Service {
        metadata: meta(n, &n.role(role), Some(role), owner),
        spec: Some(ServiceSpec {
            // gRPC clients balance over every pod address a headless Service resolves to.
            cluster_ip: role.is_grpc().then(|| "None".to_string()),
            selector: Some(selector_labels(n, role.name())),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: i32::from(role.port()),
                target_port: Some(IntOrString::String("http".into())),
                app_protocol: Some(
                    if role.is_grpc() {
                        "kubernetes.io/h2c"
                    } else {
                        "http"
                    }
                    .into(),
                ),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity("50m".into())),
            ("memory".to_string(), Quantity("64Mi".into())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            Quantity("512Mi".into()),
        )])),
        ..Default::default()
    }
}

fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_USER),
        run_as_group: Some(RUN_AS_USER),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

fn deployment(
    sf: &Storefront,
    n: &Names,
    role: Role,
    hash: &str,
    owner: &OwnerReference,
) -> Deployment {
    let rs = sf.spec.roles.get(role);
    let mut env = rs.env.clone();
    if role == Role::Notification
        && let Some(secret) = &sf.spec.smtp.secret_ref
    {
        for (var, key) in [
            ("STOREFRONT_NOTIFICATION__SMTP__USERNAME", "username"),
            ("STOREFRONT_NOTIFICATION__SMTP__PASSWORD", "password"),
        ] {
            env.insert(
                0,
                EnvVar {
                    name: var.into(),
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: secret.clone(),
                            key: key.into(),
                            optional: Some(true),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            );
        }
    }
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }];
    let mut mounts = vec![VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..Default::default()
    }];
    if role == Role::Auth {
        volumes.push(Volume {
            name: "auth-keys".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(
                    sf.spec
                        .auth
                        .secret_ref
                        .clone()
                        .unwrap_or_else(|| n.auth_keys_secret()),
                ),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: "auth-keys".into(),
            mount_path: AUTH_KEYS_PATH.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    let image = &sf.spec.image;
    let mut pod_labels = labels(n, Some(role));
    pod_labels.extend(selector_labels(n, role.name()));
    Deployment {
        metadata: meta(n, &n.role(role), Some(role), owner),
        spec: DeploymentSpec {
            // With autoscaling the HPA owns the replica count; leaving it out of the applied
            // object keeps server-side apply from fighting it.
            replicas: rs.autoscaling.is_none().then_some(rs.replicas),
            selector: selector(n, role),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        "storefront.io/config-hash".to_string(),
                        hash.to_string(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(n.role(role)),
                    automount_service_account_token: Some(false),
                    image_pull_secrets: (!image.pull_secrets.is_empty()).then(|| {
                        image
                            .pull_secrets
                            .iter()
                            .map(|s| LocalObjectReference { name: s.clone() })
                            .collect()
                    }),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        fs_group: Some(RUN_AS_USER),
                        ..Default::default()
                    }),
                    termination_grace_period_seconds: Some(30),
                    containers: vec![Container {
                        name: role.name().into(),
                        image: Some(format!("{}:{}", image.repository, image.tag)),
                        image_pull_policy: Some(image.pull_policy.as_str().into()),
                        args: Some(vec![role.name().into()]),
                        ports: Some(vec![ContainerPort {
                            name: Some("http".into()),
                            container_port: i32::from(role.port()),
                            protocol: Some("TCP".into()),
                            ..Default::default()
                        }]),
                        env_from: Some(vec![
                            EnvFromSource {
                                config_map_ref: Some(ConfigMapEnvSource {
                                    name: n.shared_config(),
                                    optional: None,
                                }),
                                ..Default::default()
                            },
                            EnvFromSource {
                                config_map_ref: Some(ConfigMapEnvSource {
                                    name: n.role(role),
                                    optional: None,
                                }),
                                ..Default::default()
                            },
                            EnvFromSource {
                                secret_ref: Some(SecretEnvSource {
                                    name: n.role_secret(role),
                                    optional: None,
                                }),
                                ..Default::default()
                            },
                        ]),
                        env: (!env.is_empty()).then_some(env),
                        resources: Some(rs.resources.clone().unwrap_or_else(default_resources)),
                        liveness_probe: Some(probe("/healthz", 10, 3)),
                        readiness_probe: Some(probe("/readyz", 5, 2)),
                        startup_probe: Some(probe("/healthz", 2, 60)),
                        security_context: Some(restricted_security_context()),
                        volume_mounts: Some(mounts),
                        ..Default::default()
                    }],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn ingress(sf: &Storefront, n: &Names, owner: &OwnerReference) -> Ingress {
    let spec = &sf.spec.ingress;
    let host = spec.host.clone().filter(|h| !h.is_empty());
    Ingress {
        metadata: meta(n, &n.role(Role::Gateway), Some(Role::Gateway), owner),
        spec: Some(K8sIngressSpec {
            ingress_class_name: spec.class_name.clone(),
            tls: spec.tls_secret_name.as_ref().map(|s| {
                vec![IngressTLS {
                    hosts: host.clone().map(|h| vec![h]),
                    secret_name: Some(s.clone()),
                }]
            }),
            rules: Some(vec![IngressRule {
                host,
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: n.role(Role::Gateway),
                                port: Some(ServiceBackendPort {
                                    number: Some(i32::from(Role::Gateway.port())),
                                    ..Default::default()
                                }),
                            }),
                            ..Default::default()
                        },
                    }],
                }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A managed single-node data store: StatefulSet with a PVC, and its Service.
struct ManagedServer {
    what: &'static str,
    image: String,
    port: i32,
    storage: String,
    mount: &'static str,
    args: Vec<String>,
    env: Vec<EnvVar>,
    run_as: i64,
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn managed_dependencies(sf: &Storefront, n: &Names, owner: &OwnerReference, out: &mut Vec<Child>) {
    let s = &sf.spec;
    let gen_secret = n.generated_secret();
    let storage = |v: &Option<String>| v.clone().unwrap_or_else(|| "1Gi".into());
    let pvc_policy = match s.deletion_policy {
        crate::crd::DeletionPolicy::Retain => "Retain",
        crate::crd::DeletionPolicy::Delete => "Delete",
    };
    let mut servers = Vec::new();
    if s.postgres.mode == DependencyMode::Managed {
        servers.push(ManagedServer {
            what: "postgres",
            image: s
                .postgres
                .image
                .clone()
                .unwrap_or_else(|| "postgres:17-alpine".into()),
            port: 5432,
            storage: storage(&s.postgres.storage),
            mount: "/var/lib/postgresql/data",
            args: vec![],
            env: vec![
                secret_env("POSTGRES_PASSWORD", &gen_secret, "postgres-admin-password"),
                plain_env("PGDATA", "/var/lib/postgresql/data/pgdata"),
            ],
            run_as: 70,
        });
    }
    if s.redis.mode == DependencyMode::Managed {
        servers.push(ManagedServer {
            what: "redis",
            image: s
                .redis
                .image
                .clone()
                .unwrap_or_else(|| "redis:7-alpine".into()),
            port: 6379,
            storage: storage(&s.redis.storage),
            mount: "/data",
            args: vec![
                "redis-server".into(),
                "--requirepass".into(),
                "$(REDIS_PASSWORD)".into(),
                "--appendonly".into(),
                "yes".into(),
            ],
            env: vec![secret_env(
                "REDIS_PASSWORD",
                &gen_secret,
                "redis-admin-password",
            )],
            run_as: 999,
        });
    }
    if s.kafka.mode == DependencyMode::Managed {
        let host = n.svc_host(&n.managed("kafka"));
        servers.push(ManagedServer {
            what: "kafka",
            image: s
                .kafka
                .image
                .clone()
                .unwrap_or_else(|| "apache/kafka:3.9.0".into()),
            port: 9092,
            storage: storage(&s.kafka.storage),
            mount: "/var/lib/kafka/data",
            args: vec![],
            env: vec![
                // A fixed id: the single node formats its log directory once.
                plain_env("CLUSTER_ID", "4L6g3nShT-eMCtK--X86sw"),
                plain_env("KAFKA_NODE_ID", "1"),
                plain_env("KAFKA_PROCESS_ROLES", "broker,controller"),
                plain_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093"),
                plain_env(
                    "KAFKA_ADVERTISED_LISTENERS",
                    &format!("PLAINTEXT://{host}:9092"),
                ),
                plain_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"),
                plain_env(
                    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                    "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                ),
                plain_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093"),
                plain_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
                plain_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
                plain_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
                plain_env("KAFKA_LOG_DIRS", "/var/lib/kafka/data/logs"),
            ],
            run_as: 1000,
        });
    }
    if s.object_storage.mode == DependencyMode::Managed {
        servers.push(ManagedServer {
            what: "minio",
            image: s
                .object_storage
                .image
                .clone()
                .unwrap_or_else(|| "quay.io/minio/minio:latest".into()),
            port: 9000,
            storage: storage(&s.object_storage.storage),
            mount: "/data",
            args: vec!["server".into(), "/data".into()],
            env: vec![
                secret_env("MINIO_ROOT_USER", &gen_secret, "s3-access-key"),
                secret_env("MINIO_ROOT_PASSWORD", &gen_secret, "s3-secret-key"),
            ],
            run_as: 1000,
        });
    }
    for m in servers {
        let name = n.managed(m.what);
        let sel = selector_labels(n, m.what);
        let mut meta_ = meta(n, &name, None, owner);
        meta_
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("app.kubernetes.io/component".into(), m.what.into());
        out.push(Child::Service(Service {
            metadata: meta_.clone(),
            spec: Some(ServiceSpec {
                selector: Some(sel.clone()),
                ports: Some(vec![ServicePort {
                    name: Some(m.what.into()),
                    port: m.port,
                    target_port: Some(IntOrString::Int(m.port)),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }));
        let mut pod_labels = labels(n, None);
        pod_labels.extend(sel.clone());
        out.push(Child::StatefulSet(StatefulSet {
            metadata: meta_,
            spec: StatefulSetSpec {
                replicas: Some(1),
                service_name: Some(name.clone()),
                selector: LabelSelector {
                    match_labels: Some(sel),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(pod_labels),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        security_context: Some(PodSecurityContext {
                            fs_group: Some(m.run_as),
                            ..Default::default()
                        }),
                        containers: vec![Container {
                            name: m.what.into(),
                            image: Some(m.image),
                            args: (!m.args.is_empty()).then_some(m.args),
                            env: Some(m.env),
                            ports: Some(vec![ContainerPort {
                                container_port: m.port,
                                name: Some(m.what.into()),
                                ..Default::default()
                            }]),
                            volume_mounts: Some(vec![VolumeMount {
                                name: "data".into(),
                                mount_path: m.mount.into(),
                                ..Default::default()
                            }]),
                            resources: Some(ResourceRequirements {
                                requests: Some(BTreeMap::from([
                                    ("cpu".to_string(), Quantity("100m".into())),
                                    ("memory".to_string(), Quantity("256Mi".into())),
                                ])),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                // `deletionPolicy: Delete` takes the managed servers' volumes along.
                persistent_volume_claim_retention_policy: Some(
                    StatefulSetPersistentVolumeClaimRetentionPolicy {
                        when_deleted: Some(pvc_policy.into()),
                        when_scaled: Some("Retain".into()),
                    },
                ),
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some("data".into()),
                        ..Default::default()
                    },
                    spec: Some(PersistentVolumeClaimSpec {
                        access_modes: Some(vec!["ReadWriteOnce".into()]),
                        resources: Some(VolumeResourceRequirements {
                            requests: Some(BTreeMap::from([(
                                "storage".to_string(),
                                Quantity(m.storage),
                            )])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        }));
    }
}

#[cfg(test)]
mod tests;
