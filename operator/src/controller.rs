//! The executor: reconciles one `Storefront` by generating its secrets, provisioning the
//! external systems, applying the desired Kubernetes objects (server-side apply, one field
//! manager, owner references), pruning what is no longer wanted, and writing the status only
//! when it changed. A finalizer applies `deletionPolicy` on delete.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::crd::{
    Condition, DeletionPolicy, DependencyMode, Provisioned, ProvisionedDatabase,
    ProvisionedRedisUser, Storefront, StorefrontStatus,
};
use crate::desired::{
    self, Child, DatabasePlan, Desired, INSTANCE_LABEL, Inputs, MANAGER, Names, RedisUserPlan,
    S3Access, TopicPlan,
};
use crate::external::{AdminAccess, Claim, Connector, Ensured, ExtError, Systems};
use crate::metrics::Metrics;
use crate::secrets;

/// The finalizer that applies `deletionPolicy`.
pub const FINALIZER: &str = "storefront.io/cleanup";
/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = MANAGER;

/// Errors that end a reconcile (the controller retries them with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("cleanup incomplete: {0}")]
    Cleanup(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shared state of the controller.
pub struct Context {
    pub client: kube::Client,
    pub connector: Arc<dyn Connector>,
    pub metrics: Arc<Metrics>,
    /// Interval of the periodic resync that corrects drift.
    pub resync: Duration,
    /// Failed cleanup attempts after which deletion gives up and releases the finalizer.
    pub cleanup_attempts: u32,
    recorder: Recorder,
    backoff: Mutex<HashMap<String, u32>>,
    /// Per child (`namespace/Kind/name`): the digest applied and the object version the API
    /// server answered with. An object still at that version and digest is not applied again.
    applied: Mutex<HashMap<String, (String, String)>>,
    /// Per Storefront: digest of the external plan and when it was last fully provisioned.
    provisioned: Mutex<HashMap<String, (String, Instant)>>,
}

/// Default of `--cleanup-attempts`.
pub const DEFAULT_CLEANUP_ATTEMPTS: u32 = 5;

impl Context {
    pub fn new(
        client: kube::Client,
        connector: Arc<dyn Connector>,
        metrics: Arc<Metrics>,
        resync: Duration,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Self {
            client,
            connector,
            metrics,
            resync,
            cleanup_attempts: DEFAULT_CLEANUP_ATTEMPTS,
            recorder,
            backoff: Mutex::new(HashMap::new()),
            applied: Mutex::new(HashMap::new()),
            provisioned: Mutex::new(HashMap::new()),
        }
    }

    /// Sets how many failed cleanup attempts deletion makes before it gives up (at least 1).
    pub fn with_cleanup_attempts(mut self, n: u32) -> Self {
        self.cleanup_attempts = n.max(1);
        self
    }

    /// The next retry delay for `key`: 5s, 10s, 20s, ... up to 5 minutes.
    fn next_backoff(&self, key: &str) -> Duration {
        let mut m = self.backoff.lock().expect("backoff lock");
        let n = m.entry(key.to_string()).or_insert(0);
        let d = Duration::from_secs((5u64 << (*n).min(6)).min(300));
        *n += 1;
        d
    }

    fn reset_backoff(&self, key: &str) {
        self.backoff.lock().expect("backoff lock").remove(key);
    }

    /// Publishes a Kubernetes Event on the Storefront (`kubectl describe sf` shows it). Events
    /// are best effort: a refused one (e.g. in a terminating namespace) is only logged.
    async fn event(&self, sf: &Storefront, warning: bool, reason: &str, note: &str) {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            // The Events API takes at most 1 kB of note.
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &sf.object_ref(&())).await {
            tracing::debug!(error = %e, reason, "event not recorded");
        }
    }
}

fn key_of(sf: &Storefront) -> String {
    format!("{}/{}", sf.namespace().unwrap_or_default(), sf.name_any())
}

/// The reconcile entry point given to the controller.
pub async fn reconcile(sf: Arc<Storefront>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciled();
    let ns = sf.namespace().unwrap_or_else(|| "default".into());
    let api: Api<Storefront> = Api::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile", storefront = %key_of(&sf));
    let res = finalizer(&api, FINALIZER, sf, |event| async {
        match event {
            Finalizer::Apply(sf) => apply(&sf, &ctx).await,
            Finalizer::Cleanup(sf) => cleanup(&sf, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.observe_duration(started.elapsed());
    res
}

/// Failed reconciles are retried with a growing delay.
pub fn error_policy(sf: Arc<Storefront>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(err);
    tracing::warn!(storefront = %key_of(&sf), error = %err, "reconcile failed");
    Action::requeue(ctx.next_backoff(&key_of(&sf)))
}

fn claim_of(sf: &Storefront) -> Claim {
    Claim {
        namespace: sf.namespace().unwrap_or_default(),
        name: sf.name_any(),
        uid: sf.uid().unwrap_or_default(),
        created: sf
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    }
}

fn decode(data: Option<&BTreeMap<String, ByteString>>) -> BTreeMap<String, String> {
    data.map(|d| {
        d.iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

fn encode(data: &BTreeMap<String, String>) -> BTreeMap<String, ByteString> {
    data.iter()
        .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
        .collect()
}

/// The version of an object that changes when someone changes what we applied: the
/// generation where the kind has one (status updates do not bump it), else the resourceVersion.
fn version_of(meta: &ObjectMeta) -> String {
    match meta.generation {
        Some(g) if g > 0 => format!("g{g}"),
        _ => format!("r{}", meta.resource_version.as_deref().unwrap_or_default()),
    }
}

async fn apply_object<K>(client: &kube::Client, ns: &str, obj: &K) -> Result<String>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = obj.meta().name.clone().unwrap_or_default();
    let out = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await?;
    Ok(version_of(out.meta()))
}

async fn apply_child(client: &kube::Client, ns: &str, child: &Child) -> Result<String> {
    match child {
        Child::ConfigMap(o) => apply_object(client, ns, o).await,
        Child::Secret(o) => apply_object(client, ns, o).await,
        Child::ServiceAccount(o) => apply_object(client, ns, o).await,
        Child::Service(o) => apply_object(client, ns, o).await,
        Child::Deployment(o) => apply_object(client, ns, o).await,
        Child::StatefulSet(o) => apply_object(client, ns, o).await,
        Child::PodDisruptionBudget(o) => apply_object(client, ns, o).await,
        Child::HorizontalPodAutoscaler(o) => apply_object(client, ns, o).await,
        Child::Ingress(o) => apply_object(client, ns, o).await,
    }
}

/// What the operator needs to know of a live child.
#[derive(Clone, Debug)]
struct Live {
    digest: Option<String>,
    version: String,
    owned: bool,
}

/// The children of `sf` that exist now, by `Kind/name` (metadata-only lists).
async fn live_children(ctx: &Context, sf: &Storefront) -> Result<BTreeMap<String, Live>> {
    let n = Names::of(sf);
    let (c, ns) = (&ctx.client, n.namespace.as_str());
    let mut live = BTreeMap::new();
    list_live::<ConfigMap>(c, ns, sf, &mut live).await?;
    list_live::<Secret>(c, ns, sf, &mut live).await?;
    list_live::<ServiceAccount>(c, ns, sf, &mut live).await?;
    list_live::<Service>(c, ns, sf, &mut live).await?;
    list_live::<Deployment>(c, ns, sf, &mut live).await?;
    list_live::<StatefulSet>(c, ns, sf, &mut live).await?;
    list_live::<PodDisruptionBudget>(c, ns, sf, &mut live).await?;
    list_live::<HorizontalPodAutoscaler>(c, ns, sf, &mut live).await?;
    list_live::<Ingress>(c, ns, sf, &mut live).await?;
    Ok(live)
}

async fn list_live<K>(
    client: &kube::Client,
    ns: &str,
    sf: &Storefront,
    out: &mut BTreeMap<String, Live>,
) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("{INSTANCE_LABEL}={}", sf.name_any()));
    let uid = sf.uid().unwrap_or_default();
    for obj in api.list_metadata(&lp).await? {
        out.insert(
            format!("{}/{}", K::kind(&()), obj.name_any()),
            Live {
                digest: obj.annotations().get(DIGEST_ANNOTATION).cloned(),
                version: version_of(&obj.metadata),
                owned: obj.owner_references().iter().any(|o| o.uid == uid),
            },
        );
    }
    Ok(())
}

/// Deletes the object `Kind/name` (missing is success).
async fn delete_child(client: &kube::Client, ns: &str, id: &str) -> Result<()> {
    let (kind, name) = id.split_once('/').unwrap_or((id, ""));
    let c = client;
    let r = match kind {
        "ConfigMap" => delete_kind::<ConfigMap>(c, ns, name).await,
        "Secret" => delete_kind::<Secret>(c, ns, name).await,
        "ServiceAccount" => delete_kind::<ServiceAccount>(c, ns, name).await,
        "Service" => delete_kind::<Service>(c, ns, name).await,
        "Deployment" => delete_kind::<Deployment>(c, ns, name).await,
        "StatefulSet" => delete_kind::<StatefulSet>(c, ns, name).await,
        "PodDisruptionBudget" => delete_kind::<PodDisruptionBudget>(c, ns, name).await,
        "HorizontalPodAutoscaler" => delete_kind::<HorizontalPodAutoscaler>(c, ns, name).await,
        "Ingress" => delete_kind::<Ingress>(c, ns, name).await,
        _ => Ok(()),
    };
    match r {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn delete_kind<K>(client: &kube::Client, ns: &str, name: &str) -> kube::Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + DeserializeOwned
        + Clone
        + Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .delete(name, &DeleteParams::background())
        .await
        .map(|_| ())
}

fn secret(
    name: &str,
    sf: &Storefront,
    data: &BTreeMap<String, String>,
    annotations: Option<BTreeMap<String, String>>,
) -> Secret {
    let n = Names::of(sf);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(n.namespace.clone()),
            labels: Some(BTreeMap::from([
                (INSTANCE_LABEL.to_string(), n.name.clone()),
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    MANAGER.to_string(),
                ),
            ])),
            annotations,
            owner_references: sf.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        data: Some(encode(data)),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// The generated Secret's data, creating missing values once.
async fn generated_secret(ctx: &Context, sf: &Storefront) -> Result<BTreeMap<String, String>> {
    let n = Names::of(sf);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &n.namespace);
    let existing = decode(
        api.get_opt(&n.generated_secret())
            .await?
            .as_ref()
            .and_then(|s| s.data.as_ref()),
    );
    match secrets::fill_missing(&existing, &desired::generated_keys(sf)) {
        None => Ok(existing),
        Some(data) => {
            apply_object(
                &ctx.client,
                &n.namespace,
                &secret(&n.generated_secret(), sf, &data, None),
            )
            .await?;
            Ok(data)
        }
    }
}

const ROTATION_ANNOTATION: &str = "storefront.io/rotation";

/// The auth signing keys Secret: generated when absent, a key appended when `rotation` rises.
async fn auth_keys(ctx: &Context, sf: &Storefront) -> Result<()> {
    if sf.spec.auth.secret_ref.is_some() {
        return Ok(());
    }
    let n = Names::of(sf);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &n.namespace);
    let current = api.get_opt(&n.auth_keys_secret()).await?;
    let want = sf.spec.auth.rotation.to_string();
    let (pem, rotation) = match &current {
        Some(s) => (
            decode(s.data.as_ref())
                .remove(desired::AUTH_KEYS_FILE)
                .unwrap_or_default(),
            s.annotations().get(ROTATION_ANNOTATION).cloned(),
        ),
        None => (String::new(), None),
    };
    if !pem.is_empty() && rotation.as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    let keys = secrets::rotate(&pem, sf.spec.auth.retained_keys.max(1) as usize);
    tracing::info!(rotation = %want, "writing auth signing keys");
    let data = BTreeMap::from([(desired::AUTH_KEYS_FILE.to_string(), keys)]);
    let ann = BTreeMap::from([(ROTATION_ANNOTATION.to_string(), want)]);
    apply_object(
        &ctx.client,
        &n.namespace,
        &secret(&n.auth_keys_secret(), sf, &data, Some(ann)),
    )
    .await
    .map(|_| ())
}

/// Percent-encodes a URL userinfo part.
fn userinfo(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A problem with the spec or its referenced Secrets: waits for a change.
#[derive(Debug)]
struct SpecProblem(String);

async fn external_secret(
    ctx: &Context,
    ns: &str,
    name: &str,
    keys: &[&str],
    what: &str,
) -> Result<Result<BTreeMap<String, String>, SpecProblem>> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let Some(s) = api.get_opt(name).await? else {
        return Ok(Err(SpecProblem(format!(
            "{what}: Secret {ns}/{name} does not exist"
        ))));
    };
    let data = decode(s.data.as_ref());
    if let Some(k) = keys.iter().find(|k| !data.contains_key(**k)) {
        return Ok(Err(SpecProblem(format!(
            "{what}: Secret {ns}/{name} has no key `{k}`"
        ))));
    }
    Ok(Ok(data))
}

/// How the operator reaches each system as administrator, and the S3 credentials of the roles.
async fn admin_access(
    ctx: &Context,
    sf: &Storefront,
    generated: &BTreeMap<String, String>,
) -> Result<Result<(AdminAccess, Option<(String, String)>), SpecProblem>> {
    let n = Names::of(sf);
    let ep = desired::endpoints(sf);
    let g = |k: &str| generated.get(k).cloned().unwrap_or_default();
    let s = &sf.spec;
    let postgres_url = match (s.postgres.mode, &s.postgres.secret_ref) {
        (DependencyMode::Managed, _) => format!(
            "postgres://postgres:{}@{}/postgres",
            g("postgres-admin-password"),
            ep.postgres
        ),
        (DependencyMode::External, Some(secret)) => {
            match external_secret(
                ctx,
                &n.namespace,
                secret,
                &["username", "password"],
                "postgres.secretRef",
            )
            .await?
            {
                Ok(d) => format!(
                    "postgres://{}:{}@{}/postgres",
                    userinfo(&d["username"]),
                    userinfo(&d["password"]),
                    ep.postgres
                ),
                Err(p) => return Ok(Err(p)),
            }
        }
        (DependencyMode::External, None) => {
            return Ok(Err(SpecProblem(
                "postgres: External needs secretRef".into(),
            )));
        }
    };
    let redis_admin: Option<(String, String)> = match (s.redis.mode, &s.redis.secret_ref) {
        (DependencyMode::Managed, _) => Some(("default".into(), g("redis-admin-password"))),
        (DependencyMode::External, Some(secret)) => {
            match external_secret(ctx, &n.namespace, secret, &["password"], "redis.secretRef")
                .await?
            {
                Ok(d) => Some((
                    d.get("username")
                        .cloned()
                        .unwrap_or_else(|| "default".into()),
                    d["password"].clone(),
                )),
                Err(p) => return Ok(Err(p)),
            }
        }
        (DependencyMode::External, None) => None,
    };
    let redis_url = match &redis_admin {
        Some((u, p)) => format!("redis://{}:{}@{}", userinfo(u), userinfo(p), ep.redis),
        None => format!("redis://{}", ep.redis),
    };
    let (s3_access_key, s3_secret_key, s3_region) =
        match (s.object_storage.mode, &s.object_storage.secret_ref) {
            (DependencyMode::Managed, _) => (
                g("s3-access-key"),
                g("s3-secret-key"),
                "us-east-1".to_string(),
            ),
            (DependencyMode::External, Some(secret)) => {
                match external_secret(
                    ctx,
                    &n.namespace,
                    secret,
                    &["accessKey", "secretKey"],
                    "objectStorage.secretRef",
                )
                .await?
                {
                    Ok(d) => (
                        d["accessKey"].clone(),
                        d["secretKey"].clone(),
                        d.get("region")
                            .cloned()
                            .unwrap_or_else(|| "us-east-1".into()),
                    ),
                    Err(p) => return Ok(Err(p)),
                }
            }
            (DependencyMode::External, None) => {
                return Ok(Err(SpecProblem(
                    "objectStorage: External needs secretRef".into(),
                )));
            }
        };
    Ok(Ok((
        AdminAccess {
            postgres_url,
            redis_url,
            kafka_brokers: ep.kafka,
            s3_endpoint: ep.s3,
            s3_access_key,
            s3_secret_key,
            s3_region,
        },
        redis_admin,
    )))
}

/// Annotation on every child: the digest of what the operator applied.
pub const DIGEST_ANNOTATION: &str = "storefront.io/applied-digest";

/// The outcome of provisioning one kind of external resource.
#[derive(Debug, Default, Clone)]
pub struct Area {
    pub total: usize,
    pub errors: Vec<ExtError>,
    /// What this pass created or adopted (for the Provisioned event).
    pub changed: Vec<String>,
}

impl Area {
    fn record(&mut self, what: &str, r: Result<Ensured, ExtError>) {
        self.total += 1;
        match r {
            Ok(e) => {
                if e != Ensured::Unchanged {
                    tracing::info!(resource = what, outcome = ?e, "provisioned");
                    let verb = if e == Ensured::Created {
                        "created"
                    } else {
                        "adopted"
                    };
                    self.changed.push(format!("{verb} {what}"));
                }
            }
            Err(e) => {
                tracing::warn!(resource = what, error = %e, "provisioning failed");
                self.errors.push(e);
            }
        }
    }
    /// An area that needed no work (its last full provisioning is recent and unchanged).
    fn done(total: usize) -> Self {
        Self {
            total,
            ..Default::default()
        }
    }
    /// The first transient error, if any (then the system is taken as unreachable).
    fn unreachable(&self) -> Option<ExtError> {
        self.errors
            .iter()
            .find(|e| matches!(e, ExtError::Transient(_)))
            .cloned()
    }
    fn transient(&self) -> bool {
        self.errors
            .iter()
            .any(|e| matches!(e, ExtError::Transient(_)))
    }
    fn conflicts(&self) -> impl Iterator<Item = &ExtError> {
        self.errors
            .iter()
            .filter(|e| matches!(e, ExtError::Conflict { .. }))
    }
    fn condition(&self, type_: &str, noun: &str) -> Condition {
        let (status, reason, message) = if self.errors.is_empty() {
            (
                "True",
                "Provisioned",
                format!("{} {noun} ready", self.total),
            )
        } else {
            let reason = if self.conflicts().next().is_some() {
                "ResourceConflict"
            } else if self.transient() {
                "Unavailable"
            } else {
                "ProvisioningFailed"
            };
            (
                "False",
                reason,
                format!(
                    "{} of {} {noun} not ready: {}",
                    self.errors.len(),
                    self.total,
                    dedup_messages(&self.errors)
                ),
            )
        };
        cond(type_, status, reason, &message)
    }
}

/// The same error for many resources (a server down) is said once.
fn dedup_messages(errors: &[ExtError]) -> String {
    let mut msgs: Vec<String> = Vec::new();
    for e in errors {
        let m = e.to_string();
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    msgs.join("; ")
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: None,
        observed_generation: None,
    }
}

/// What provisioning found, per system.
#[derive(Debug, Default, Clone)]
pub struct Provisioning {
    pub databases: Area,
    pub topics: Area,
    pub buckets: Area,
    pub redis: Area,
    /// The Redis answer: `Ok(true)` ACL user ready, `Ok(false)` no ACLs on the server.
    pub redis_acl: Option<Result<bool, ExtError>>,
    /// The object store's answer: `Ok(true)` per-role users ready, `Ok(false)` none.
    pub s3_users: Option<Result<bool, ExtError>>,
}

impl Provisioning {
    fn areas(&self) -> [&Area; 4] {
        [&self.databases, &self.topics, &self.buckets, &self.redis]
    }
    /// Conflicts with older Storefronts, in any system.
    pub fn conflicts(&self) -> Vec<String> {
        self.areas()
            .iter()
            .flat_map(|a| a.conflicts().map(|e| e.to_string()))
            .collect()
    }
    fn transient(&self) -> bool {
        self.areas().iter().any(|a| a.transient())
    }
    fn clean(&self) -> bool {
        self.areas().iter().all(|a| a.errors.is_empty())
    }
    fn changed(&self) -> Vec<String> {
        self.areas()
            .iter()
            .flat_map(|a| a.changed.iter().cloned())
            .collect()
    }
}

/// Provisions every external resource of `plan`: the Redis key prefix and user first, then
/// databases, topics and buckets. After a transient error (the server is unreachable) the
/// rest of that system is not tried: each try would wait for the same timeout.
pub async fn provision(systems: &Systems, plan: &Desired, claim: &Claim) -> Provisioning {
    let mut p = Provisioning::default();
    let redis = systems.redis.ensure(&plan.redis_user, claim).await;
    p.redis.record(
        &format!("Redis keys {}", plan.redis_user.key_pattern),
        redis.clone().map(|_| Ensured::Unchanged),
    );
    p.redis_acl = Some(redis);
    for db in &plan.databases {
        let r = match p.databases.unreachable() {
            Some(e) => Err(e),
            None => systems.databases.ensure(db, claim).await,
        };
        p.databases.record(&format!("database {}", db.database), r);
    }
    for t in &plan.topics {
        let r = match p.topics.unreachable() {
            Some(e) => Err(e),
            None => systems.topics.ensure(t, claim).await,
        };
        p.topics.record(&format!("topic {}", t.name), r);
    }
    for b in &plan.buckets {
        let r = match p.buckets.unreachable() {
            Some(e) => Err(e),
            None => systems.buckets.ensure(b, claim).await,
        };
        p.buckets.record(&format!("bucket {b}"), r);
    }
    // Per-role users only for buckets that are ours.
    if p.buckets.errors.is_empty() {
        let r = systems.object_users.ensure(&plan.s3_users).await;
        if let Err(e) = &r {
            p.buckets.record("object-store users", Err(e.clone()));
        }
        p.s3_users = Some(r);
    }
    p
}

/// The external resources of a plan, as the status tracks them.
pub fn tracked(plan: &Desired) -> Provisioned {
    Provisioned {
        databases: plan
            .databases
            .iter()
            .map(|d| ProvisionedDatabase {
                name: d.database.clone(),
                owner: d.owner.clone(),
            })
            .collect(),
        topics: plan.topics.iter().map(|t| t.name.clone()).collect(),
        buckets: plan.buckets.clone(),
        redis_users: vec![ProvisionedRedisUser {
            username: plan.redis_user.username.clone(),
            prefix: plan.redis_user.prefix.clone(),
        }],
        s3_users: plan.s3_users.iter().map(|u| u.access_key.clone()).collect(),
    }
    .union(&Provisioned::default())
}

/// A stable digest of the external part of a plan (what provisioning depends on).
fn external_digest(plan: &Desired) -> String {
    use sha2::Digest as _;
    let text = format!(
        "{:?}{:?}{:?}{:?}{:?}",
        plan.databases, plan.topics, plan.buckets, plan.redis_user, plan.s3_users
    );
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8])
}

/// Applies `children` that differ from what is live (or were changed by someone else since
/// the operator applied them), stamping each with its digest. Returns how many were written.
async fn apply_changed(
    ctx: &Context,
    ns: &str,
    children: &[&Child],
    live: &BTreeMap<String, Live>,
) -> Result<usize> {
    let mut written = 0;
    for child in children {
        let id = child.id();
        let digest = child.digest();
        let key = format!("{ns}/{id}");
        let current = live.get(&id);
        let remembered = ctx.applied.lock().expect("applied lock").get(&key).cloned();
        let up_to_date = match (current, remembered) {
            (Some(l), Some((d, v))) => {
                l.digest.as_deref() == Some(digest.as_str()) && d == digest && v == l.version
            }
            _ => false,
        };
        if up_to_date {
            continue;
        }
        let mut stamped = (*child).clone();
        stamped
            .meta_mut()
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(DIGEST_ANNOTATION.into(), digest.clone());
        let version = apply_child(&ctx.client, ns, &stamped).await?;
        ctx.applied
            .lock()
            .expect("applied lock")
            .insert(key, (digest, version));
        written += 1;
    }
    Ok(written)
}

/// Deletes owned children that are live but not in `keep`.
async fn prune(
    ctx: &Context,
    ns: &str,
    live: &BTreeMap<String, Live>,
    keep: &BTreeSet<String>,
) -> Result<()> {
    for (id, l) in live {
        if l.owned && !keep.contains(id) {
            tracing::info!(object = %id, "pruning object no longer wanted");
            delete_child(&ctx.client, ns, id).await?;
            ctx.applied
                .lock()
                .expect("applied lock")
                .remove(&format!("{ns}/{id}"));
        }
    }
    Ok(())
}

/// The Redis credentials the roles get, when they are known.
enum RedisAuth {
    Known(Option<(String, String)>),
    /// Not known yet (first contact failed): the roles' objects are left as they are.
    Unknown,
}

async fn apply(sf: &Storefront, ctx: &Context) -> Result<Action> {
    let n = Names::of(sf);
    let old = sf.status.clone().unwrap_or_default();
    let generated = generated_secret(ctx, sf).await?;
    auth_keys(ctx, sf).await?;
    let claim = claim_of(sf);

    let problem = |msg: String| async move {
        let status = problem_status(sf, "InvalidSpec", &msg);
        if sf.status.as_ref() != Some(&status) {
            ctx.event(sf, true, "InvalidSpec", &msg).await;
        }
        write_status(ctx, sf, status).await?;
        Ok(Action::requeue(ctx.resync))
    };
    let (access, redis_admin) = match admin_access(ctx, sf, &generated).await? {
        Ok(a) => a,
        Err(SpecProblem(msg)) => return problem(msg).await,
    };
    let systems = match ctx.connector.connect(&access) {
        Ok(s) => s,
        Err(e) => return problem(e.to_string()).await,
    };
    let s3 = S3Access {
        access_key: access.s3_access_key.clone(),
        secret_key: access.s3_secret_key.clone(),
        region: access.s3_region.clone(),
    };
    let mut inputs = Inputs {
        generated: generated.clone(),
        redis_auth: None,
        s3,
        s3_role_users: false,
    };
    let draft = desired::desired(sf, &inputs);

    // 1. Track every external resource before it exists, so deletion finds it even after a
    //    crash or after its role was disabled.
    let tracked_now = old.provisioned.union(&tracked(&draft));
    if tracked_now != old.provisioned {
        let mut st = old.clone();
        st.provisioned = tracked_now.clone();
        write_status(ctx, sf, st).await?;
    }

    // 2. The managed servers run first: they must be up to be provisioned.
    // One listing serves both passes: applying the managed servers touches none of the roles'
    // objects, and pruning needs only which objects exist and whose they are.
    let live = live_children(ctx, sf).await?;
    let deps: Vec<&Child> = draft
        .children
        .iter()
        .filter(|c| draft.dependency_ids.contains(&c.id()))
        .collect();
    apply_changed(ctx, &n.namespace, &deps, &live).await?;

    // 3. Provision (skipped while the last full pass is recent and the plan unchanged).
    let key = key_of(sf);
    let digest = external_digest(&draft);
    let recent = ctx
        .provisioned
        .lock()
        .expect("provisioned lock")
        .get(&key)
        .is_some_and(|(d, at)| *d == digest && at.elapsed() < ctx.resync);
    let prov = if recent && old.redis_acl.is_some() && old.s3_users.is_some() {
        Provisioning {
            databases: Area::done(draft.databases.len()),
            topics: Area::done(draft.topics.len()),
            buckets: Area::done(draft.buckets.len()),
            redis: Area::done(1),
            redis_acl: old.redis_acl.map(Ok),
            s3_users: old.s3_users.map(Ok),
        }
    } else {
        let p = provision(&systems, &draft, &claim).await;
        let mut m = ctx.provisioned.lock().expect("provisioned lock");
        if p.clean() {
            m.insert(key.clone(), (digest, Instant::now()));
        } else {
            m.remove(&key);
        }
        p
    };
    let conflicts = prov.conflicts();

    // 4. The roles: only with their final credentials, and none at all while another
    //    Storefront owns something this one would share.
    let acl_user = Some((
        draft.redis_user.username.clone(),
        draft.redis_user.password.clone(),
    ));
    let mut redis_acl = old.redis_acl;
    let auth = match &prov.redis_acl {
        Some(Ok(true)) => {
            redis_acl = Some(true);
            RedisAuth::Known(acl_user)
        }
        Some(Ok(false)) => {
            redis_acl = Some(false);
            RedisAuth::Known(redis_admin)
        }
        _ => match old.redis_acl {
            Some(true) => RedisAuth::Known(acl_user),
            Some(false) => RedisAuth::Known(redis_admin),
            // The managed server is the operator's own Redis 7 (ACLs): its user is known
            // before the server answers, so the roles need not wait for it.
            None if sf.spec.redis.mode == DependencyMode::Managed => RedisAuth::Known(acl_user),
            None => RedisAuth::Unknown,
        },
    };
    let mut s3_users = old.s3_users;
    // Until the store has answered once, the two roles that store objects use the configured
    // keys (object storage never holds the other roles back).
    inputs.s3_role_users = match &prov.s3_users {
        Some(Ok(b)) => {
            s3_users = Some(*b);
            *b
        }
        _ => old.s3_users.unwrap_or(false),
    };
    let mut keep: BTreeSet<String> = draft.dependency_ids.clone();
    keep.insert(format!("Secret/{}", n.generated_secret()));
    keep.insert(format!("Secret/{}", n.auth_keys_secret()));
    let mut plan = draft.clone();
    let isolated = !conflicts.is_empty();
    if isolated {
        // No workloads and no credentials: the Redis user goes too (its key pattern is the
        // winner's), and the role objects are pruned below.
        if let Err(e) = systems.redis.revoke(&draft.redis_user).await {
            tracing::warn!(error = %e, "revoking the Redis user of a Storefront in conflict");
        }
        let keys: Vec<String> = draft
            .s3_users
            .iter()
            .map(|u| u.access_key.clone())
            .collect();
        if let Err(e) = systems.object_users.delete(&keys).await {
            tracing::warn!(error = %e, "deleting the object-store users of a Storefront in conflict");
        }
        ctx.provisioned
            .lock()
            .expect("provisioned lock")
            .remove(&key);
    }
    let roles_touched = match (&auth, isolated) {
        (_, true) => true,
        (RedisAuth::Known(a), false) => {
            inputs.redis_auth = a.clone();
            plan = desired::desired(sf, &inputs);
            let roles: Vec<&Child> = plan
                .children
                .iter()
                .filter(|c| !plan.dependency_ids.contains(&c.id()))
                .collect();
            keep.extend(roles.iter().map(|c| c.id()));
            apply_changed(ctx, &n.namespace, &roles, &live).await?;
            true
        }
        (RedisAuth::Unknown, false) => false,
    };
    if roles_touched {
        prune(ctx, &n.namespace, &live, &keep).await?;
    }

    if roles_touched && !isolated {
        pod_monitor(ctx, sf, &n).await?;
    }

    // 5. Status, and events for what changed.
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &n.namespace);
    let lp = ListParams::default().labels(&format!("{INSTANCE_LABEL}={}", n.name));
    let ready: BTreeMap<String, i32> = deployments
        .list(&lp)
        .await?
        .into_iter()
        .filter_map(|d| {
            let role = d.labels().get("app.kubernetes.io/component")?.clone();
            Some((role, d.status.and_then(|s| s.ready_replicas).unwrap_or(0)))
        })
        .collect();
    let mut status = compute_status(sf, &plan, &ready, &prov, isolated);
    status.provisioned = tracked_now;
    status.redis_acl = redis_acl;
    status.s3_users = s3_users;
    let changed = prov.changed();
    if !changed.is_empty() {
        ctx.event(sf, false, "Provisioned", &changed.join(", "))
            .await;
    }
    transition_events(ctx, sf, &old, &status).await;
    write_status(ctx, sf, status).await?;
    if prov.transient() || !roles_touched {
        Ok(Action::requeue(ctx.next_backoff(&key)))
    } else {
        ctx.reset_backoff(&key);
        Ok(Action::requeue(ctx.resync))
    }
}

/// Where the Prometheus operator runs (its `PodMonitor` kind is served), a PodMonitor that
/// scrapes `/metrics` of every role's pods; elsewhere nothing.
async fn pod_monitor(ctx: &Context, sf: &Storefront, n: &Names) -> Result<()> {
    use kube::core::{DynamicObject, GroupVersionKind};
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PodMonitor");
    let Ok((ar, _)) = kube::discovery::pinned_kind(&ctx.client, &gvk).await else {
        return Ok(());
    };
    let spec = serde_json::json!({
        "selector": {"matchLabels": {
            "app.kubernetes.io/name": "storefront",
            INSTANCE_LABEL: n.name,
        }},
        "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
    });
    let digest = {
        use sha2::Digest as _;
        hex::encode(&sha2::Sha256::digest(spec.to_string().as_bytes())[..8])
    };
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &n.namespace, &ar);
    let key = format!("{}/PodMonitor/{}", n.namespace, n.name);
    let live = api.get_opt(&n.name).await?;
    let remembered = ctx.applied.lock().expect("applied lock").get(&key).cloned();
    if let (Some(l), Some((d, v))) = (&live, remembered)
        && d == digest
        && v == version_of(&l.metadata)
    {
        return Ok(());
    }
    let mut obj = DynamicObject::new(&n.name, &ar)
        .within(&n.namespace)
        .data(serde_json::json!({ "spec": spec }));
    obj.metadata.labels = Some(BTreeMap::from([
        (INSTANCE_LABEL.to_string(), n.name.clone()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            MANAGER.to_string(),
        ),
    ]));
    obj.metadata.annotations = Some(BTreeMap::from([(
        DIGEST_ANNOTATION.to_string(),
        digest.clone(),
    )]));
    obj.metadata.owner_references = sf.controller_owner_ref(&()).map(|o| vec![o]);
    let out = api
        .patch(
            &n.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await?;
    ctx.applied
        .lock()
        .expect("applied lock")
        .insert(key, (digest, version_of(&out.metadata)));
    Ok(())
}

/// Events for conditions that changed: a conflict, a failure, readiness reached.
async fn transition_events(
    ctx: &Context,
    sf: &Storefront,
    old: &StorefrontStatus,
    new: &StorefrontStatus,
) {
    let was = |t: &str| old.conditions.iter().find(|c| c.type_ == t);
    for c in &new.conditions {
        let before = was(&c.type_);
        let same = before.is_some_and(|b| b.status == c.status && b.message == c.message);
        if same {
            continue;
        }
        match (c.type_.as_str(), c.status.as_str()) {
            ("ResourceConflict", "True") => {
                ctx.event(sf, true, "ResourceConflict", &c.message).await
            }
            ("Ready", "True") => ctx.event(sf, false, "Ready", &c.message).await,
            ("DatabasesReady" | "TopicsReady" | "BucketsReady", "False")
                if c.reason != "ResourceConflict" =>
            {
                ctx.event(sf, true, &c.reason, &format!("{}: {}", c.type_, c.message))
                    .await
            }
            _ => {}
        }
    }
}

/// The status after a reconcile (pure; conditions keep their transition time when unchanged).
pub fn compute_status(
    sf: &Storefront,
    plan: &Desired,
    ready: &BTreeMap<String, i32>,
    prov: &Provisioning,
    isolated: bool,
) -> StorefrontStatus {
    let mut waiting = Vec::new();
    let mut ready_replicas = BTreeMap::new();
    for (role, replicas) in &plan.roles {
        let r = ready.get(role.name()).copied().unwrap_or(0);
        ready_replicas.insert(role.name().to_string(), r);
        let want = match &sf.spec.roles.get(*role).autoscaling {
            Some(a) => a.min_replicas,
            None => *replicas,
        };
        if r < want {
            waiting.push(format!("{} ({r}/{want})", role.name()));
        }
    }
    let workloads = if isolated {
        cond(
            "WorkloadsReady",
            "False",
            "ResourceConflict",
            "no workloads and no credentials while another Storefront owns resources this one \
             would share (see ResourceConflict)",
        )
    } else if waiting.is_empty() {
        cond(
            "WorkloadsReady",
            "True",
            "AllRolesReady",
            &format!("{} roles ready", plan.roles.len()),
        )
    } else {
        cond(
            "WorkloadsReady",
            "False",
            "Progressing",
            &format!("waiting for: {}", waiting.join(", ")),
        )
    };
    let mut dbs_c = prov.databases.condition("DatabasesReady", "databases");
    if dbs_c.status == "True" && !prov.redis.errors.is_empty() {
        dbs_c = prov.redis.condition("DatabasesReady", "Redis key prefixes");
    }
    let parts = [
        dbs_c,
        prov.topics.condition("TopicsReady", "topics"),
        prov.buckets.condition("BucketsReady", "buckets"),
        workloads,
    ];
    let conflicts = prov.conflicts();
    let ready_c = match parts.iter().find(|c| c.status != "True") {
        None => cond(
            "Ready",
            "True",
            "Ready",
            "every role is ready and every resource provisioned",
        ),
        Some(c) => cond(
            "Ready",
            "False",
            &c.reason,
            &format!("{}: {}", c.type_, c.message),
        ),
    };
    let mut conditions = vec![ready_c];
    conditions.extend(parts);
    conditions.push(if conflicts.is_empty() {
        cond("ResourceConflict", "False", "NoConflict", "")
    } else {
        cond(
            "ResourceConflict",
            "True",
            "ClaimedByOlderStorefront",
            &conflicts.join("; "),
        )
    });
    let old = sf.status.clone().unwrap_or_default();
    StorefrontStatus {
        provisioned: old.provisioned,
        redis_acl: old.redis_acl,
        s3_users: old.s3_users,
        ..finish_status(
            sf,
            conditions,
            ready_replicas,
            Some(plan.gateway_url.clone()),
        )
    }
}

fn problem_status(sf: &Storefront, reason: &str, message: &str) -> StorefrontStatus {
    let old = sf.status.clone().unwrap_or_default();
    let mut conditions = vec![cond("Ready", "False", reason, message)];
    for t in [
        "DatabasesReady",
        "TopicsReady",
        "BucketsReady",
        "WorkloadsReady",
        "ResourceConflict",
    ] {
        if let Some(c) = old.conditions.iter().find(|c| c.type_ == t) {
            conditions.push(c.clone());
        }
    }
    StorefrontStatus {
        provisioned: old.provisioned.clone(),
        redis_acl: old.redis_acl,
        s3_users: old.s3_users,
        cleanup_attempts: old.cleanup_attempts,
        ..finish_status(
            sf,
            conditions,
            old.ready_replicas.clone(),
            old.gateway_url.clone(),
        )
    }
}

/// Stamps generation and transition times (kept from the old status when a condition's status
/// did not change).
fn finish_status(
    sf: &Storefront,
    mut conditions: Vec<Condition>,
    ready_replicas: BTreeMap<String, i32>,
    gateway_url: Option<String>,
) -> StorefrontStatus {
    let old = sf.status.clone().unwrap_or_default();
    let generation = sf.meta().generation;
    let now = now_rfc3339();
    for c in &mut conditions {
        c.observed_generation = generation;
        c.last_transition_time = match old.conditions.iter().find(|o| o.type_ == c.type_) {
            Some(o) if o.status == c.status => o.last_transition_time.clone(),
            _ => Some(now.clone()),
        };
    }
    StorefrontStatus {
        observed_generation: generation,
        conditions,
        ready_replicas,
        gateway_url,
        ..Default::default()
    }
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Patches the status subresource when `status` differs from the current one.
async fn write_status(ctx: &Context, sf: &Storefront, status: StorefrontStatus) -> Result<()> {
    if sf.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<Storefront> =
        Api::namespaced(ctx.client.clone(), &sf.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": "storefront.io/v1alpha1",
        "kind": "Storefront",
        "status": status,
    });
    api.patch_status(
        &sf.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Applies `deletionPolicy` to every external resource the Storefront ever had (the tracked
/// ones and the current plan's), on the systems it does not manage itself (a managed server
/// goes with its StatefulSet). Cleanup that keeps failing is given up after
/// `ctx.cleanup_attempts` attempts: the finalizer is released with a warning event naming what
/// may be left, so neither the Storefront nor its namespace hangs.
async fn cleanup(sf: &Storefront, ctx: &Context) -> Result<Action> {
    let old = sf.status.clone().unwrap_or_default();
    let attempt = old.cleanup_attempts.unwrap_or(0).max(0) as u32 + 1;
    let leftovers = leftovers(sf, &old.provisioned);
    let outcome = cleanup_once(sf, ctx, &leftovers).await?;
    let msg = match outcome {
        Ok(warnings) => {
            for w in warnings {
                ctx.event(sf, true, "TopicsKept", &w).await;
            }
            tracing::info!(policy = ?sf.spec.deletion_policy, "cleanup done");
            ctx.event(
                sf,
                false,
                "CleanedUp",
                &format!("deletionPolicy {:?} applied", sf.spec.deletion_policy),
            )
            .await;
            return Ok(Action::await_change());
        }
        Err(msg) => msg,
    };
    if attempt >= ctx.cleanup_attempts {
        let note = format!(
            "cleanup gave up after {attempt} attempts ({msg}); deletion goes on and these may be \
             left: {}",
            describe(&leftovers)
        );
        tracing::warn!(%note, "releasing the finalizer");
        ctx.event(sf, true, "CleanupAbandoned", &note).await;
        return Ok(Action::await_change());
    }
    let mut status = problem_status(
        sf,
        "CleanupFailed",
        &format!("attempt {attempt} of {}: {msg}", ctx.cleanup_attempts),
    );
    status.cleanup_attempts = Some(attempt as i32);
    ctx.event(sf, true, "CleanupFailed", &status.conditions[0].message)
        .await;
    // A Storefront whose namespace is going away may not take a status write any more.
    if let Err(e) = write_status(ctx, sf, status).await {
        tracing::warn!(error = %e, "could not record the cleanup attempt");
    }
    Err(Error::Cleanup(msg))
}

/// Everything cleanup should remove or release: the tracked resources and the current plan's.
fn leftovers(sf: &Storefront, tracked_before: &Provisioned) -> Provisioned {
    let plan = desired::desired(sf, &Inputs::default());
    tracked_before.union(&tracked(&plan))
}

fn describe(p: &Provisioned) -> String {
    let mut parts = Vec::new();
    if !p.databases.is_empty() {
        let names: Vec<&str> = p.databases.iter().map(|d| d.name.as_str()).collect();
        parts.push(format!("databases {}", names.join(", ")));
    }
    if !p.topics.is_empty() {
        parts.push(format!("topics {}", p.topics.join(", ")));
    }
    if !p.buckets.is_empty() {
        parts.push(format!("buckets {}", p.buckets.join(", ")));
    }
    for u in &p.redis_users {
        parts.push(format!("Redis user {} (keys {}*)", u.username, u.prefix));
    }
    if !p.s3_users.is_empty() {
        parts.push(format!("object-store users {}", p.s3_users.join(", ")));
    }
    parts.join("; ")
}

/// One cleanup attempt. `Ok(Ok(warnings))`: done; `Ok(Err(why))`: failed, worth another try.
async fn cleanup_once(
    sf: &Storefront,
    ctx: &Context,
    what: &Provisioned,
) -> Result<Result<Vec<String>, String>> {
    let generated = generated_secret_read(ctx, sf).await?;
    let access = match admin_access(ctx, sf, &generated).await? {
        Ok((a, _)) => a,
        Err(SpecProblem(m)) => return Ok(Err(m)),
    };
    let systems = match ctx.connector.connect(&access) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let external = |m: DependencyMode| m == DependencyMode::External;
    let s = &sf.spec;
    let scope = Scope {
        databases: external(s.postgres.mode),
        topics: external(s.kafka.mode),
        buckets: external(s.object_storage.mode),
        redis: external(s.redis.mode),
    };
    let (errors, warnings) =
        cleanup_external(&systems, what, &claim_of(sf), s.deletion_policy, scope).await;
    if errors.is_empty() {
        Ok(Ok(warnings))
    } else {
        Ok(Err(dedup_messages(&errors)))
    }
}

/// Which systems cleanup acts on (a managed server is deleted with the Storefront).
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub databases: bool,
    pub topics: bool,
    pub buckets: bool,
    pub redis: bool,
}

impl Scope {
    pub const ALL: Scope = Scope {
        databases: true,
        topics: true,
        buckets: true,
        redis: true,
    };
}

/// Releases or deletes the resources in `what`; returns what failed and warnings. After a
/// transient error the rest of that system is skipped (it would wait for the same timeout).
pub async fn cleanup_external(
    systems: &Systems,
    what: &Provisioned,
    claim: &Claim,
    policy: DeletionPolicy,
    scope: Scope,
) -> (Vec<ExtError>, Vec<String>) {
    let delete = policy == DeletionPolicy::Delete;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    fn failed(area: &[ExtError]) -> bool {
        area.iter().any(|e| matches!(e, ExtError::Transient(_)))
    }
    if scope.databases {
        let mut area = Vec::new();
        for d in &what.databases {
            if failed(&area) {
                break;
            }
            let db = DatabasePlan {
                database: d.name.clone(),
                owner: d.owner.clone(),
                password: String::new(),
            };
            let r = if delete {
                systems.databases.delete(&db, claim).await
            } else {
                systems.databases.release(&db, claim).await
            };
            area.extend(r.err());
        }
        errors.extend(area);
    }
    if scope.topics {
        let mut area = Vec::new();
        let mut delete_topics = delete;
        if delete && !what.topics.is_empty() {
            match systems.topics.deletion_guard().await {
                Ok(None) => {}
                Ok(Some(why)) => {
                    warnings.push(format!("{}: {why}", what.topics.join(", ")));
                    delete_topics = false;
                }
                Err(e) => area.push(e),
            }
        }
        for name in &what.topics {
            if failed(&area) {
                break;
            }
            let t = TopicPlan {
                name: name.clone(),
                partitions: 1,
                replication_factor: 1,
                retention_ms: -1,
            };
            let r = if delete_topics {
                systems.topics.delete(&t, claim).await
            } else {
                systems.topics.release(&t, claim).await
            };
            area.extend(r.err());
        }
        errors.extend(area);
    }
    if scope.buckets {
        let mut area = Vec::new();
        // Users are credentials, not data: deleted under either policy.
        area.extend(systems.object_users.delete(&what.s3_users).await.err());
        for b in &what.buckets {
            if failed(&area) {
                break;
            }
            let r = if delete {
                systems.buckets.delete(b, claim).await
            } else {
                systems.buckets.release(b, claim).await
            };
            area.extend(r.err());
        }
        errors.extend(area);
    }
    if scope.redis {
        let mut area = Vec::new();
        for u in &what.redis_users {
            if failed(&area) {
                break;
            }
            let user = RedisUserPlan {
                username: u.username.clone(),
                password: String::new(),
                key_pattern: format!("{}*", u.prefix),
                prefix: u.prefix.clone(),
            };
            // Retain keeps the keys but not the user: its password must stop working.
            let r = if delete {
                systems.redis.delete(&user, claim).await
            } else {
                systems.redis.release(&user, claim).await
            };
            area.extend(r.err());
        }
        errors.extend(area);
    }
    (errors, warnings)
}

async fn generated_secret_read(ctx: &Context, sf: &Storefront) -> Result<BTreeMap<String, String>> {
    let n = Names::of(sf);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &n.namespace);
    Ok(decode(
        api.get_opt(&n.generated_secret())
            .await?
            .as_ref()
            .and_then(|s| s.data.as_ref()),
    ))
}

#[cfg(test)]
mod tests;
