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
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::crd::{Condition, DeletionPolicy, DependencyMode, Storefront, StorefrontStatus};
use crate::desired::{self, Child, Desired, INSTANCE_LABEL, Inputs, MANAGER, Names, S3Access};
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
    backoff: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        connector: Arc<dyn Connector>,
        metrics: Arc<Metrics>,
        resync: Duration,
    ) -> Self {
        Self {
            client,
            connector,
            metrics,
            resync,
            backoff: Mutex::new(HashMap::new()),
        }
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

async fn apply_object<K>(client: &kube::Client, ns: &str, obj: &K) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await?;
    Ok(())
}

async fn apply_child(client: &kube::Client, ns: &str, child: &Child) -> Result<()> {
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

/// Deletes objects of kind `K` labelled for this Storefront, owned by it, and not in `keep`.
async fn prune<K>(
    client: &kube::Client,
    ns: &str,
    sf: &Storefront,
    keep: &BTreeSet<String>,
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
        let name = obj.name_any();
        let kind = K::kind(&());
        let owned = obj.owner_references().iter().any(|o| o.uid == uid);
        if owned && !keep.contains(&format!("{kind}/{name}")) {
            tracing::info!(%kind, %name, "pruning object no longer wanted");
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
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

/// The outcome of provisioning one kind of external resource.
#[derive(Debug, Default, Clone)]
pub struct Area {
    pub total: usize,
    pub errors: Vec<ExtError>,
}

impl Area {
    fn record(&mut self, what: &str, r: Result<Ensured, ExtError>) {
        self.total += 1;
        match r {
            Ok(e) => {
                if e != Ensured::Unchanged {
                    tracing::info!(resource = what, outcome = ?e, "provisioned");
                }
            }
            Err(e) => {
                tracing::warn!(resource = what, error = %e, "provisioning failed");
                self.errors.push(e);
            }
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
            // The same error for many resources (a server down) is said once.
            let mut msgs: Vec<String> = Vec::new();
            for e in &self.errors {
                let m = e.to_string();
                if !msgs.contains(&m) {
                    msgs.push(m);
                }
            }
            (
                "False",
                reason,
                format!(
                    "{} of {} {noun} not ready: {}",
                    self.errors.len(),
                    self.total,
                    msgs.join("; ")
                ),
            )
        };
        cond(type_, status, reason, &message)
    }
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

/// Provisions every external resource of `plan`. Returns the areas and whether Redis has ACLs.
pub async fn provision(
    systems: &Systems,
    plan: &Desired,
    claim: &Claim,
) -> (Area, Area, Area, Result<bool, ExtError>) {
    let redis = systems.redis.ensure(&plan.redis_user).await;
    // After a transient error (the server is unreachable) the rest of that system is not
    // tried: each try would wait for the same timeout.
    let mut dbs = Area::default();
    for db in &plan.databases {
        let r = match dbs.unreachable() {
            Some(e) => Err(e),
            None => systems.databases.ensure(db, claim).await,
        };
        dbs.record(&db.database, r);
    }
    let mut topics = Area::default();
    for t in &plan.topics {
        let r = match topics.unreachable() {
            Some(e) => Err(e),
            None => systems.topics.ensure(t, claim).await,
        };
        topics.record(&t.name, r);
    }
    let mut buckets = Area::default();
    for b in &plan.buckets {
        let r = match buckets.unreachable() {
            Some(e) => Err(e),
            None => systems.buckets.ensure(b, claim).await,
        };
        buckets.record(b, r);
    }
    (dbs, topics, buckets, redis)
}

/// Applies every desired child and prunes owned objects that are no longer desired.
async fn apply_children(ctx: &Context, sf: &Storefront, plan: &Desired) -> Result<()> {
    let n = Names::of(sf);
    for child in &plan.children {
        apply_child(&ctx.client, &n.namespace, child).await?;
    }
    let mut keep: BTreeSet<String> = plan.children.iter().map(Child::id).collect();
    keep.insert(format!("Secret/{}", n.generated_secret()));
    keep.insert(format!("Secret/{}", n.auth_keys_secret()));
    let c = &ctx.client;
    prune::<Deployment>(c, &n.namespace, sf, &keep).await?;
    prune::<StatefulSet>(c, &n.namespace, sf, &keep).await?;
    prune::<Service>(c, &n.namespace, sf, &keep).await?;
    prune::<ServiceAccount>(c, &n.namespace, sf, &keep).await?;
    prune::<ConfigMap>(c, &n.namespace, sf, &keep).await?;
    prune::<Secret>(c, &n.namespace, sf, &keep).await?;
    prune::<PodDisruptionBudget>(c, &n.namespace, sf, &keep).await?;
    prune::<HorizontalPodAutoscaler>(c, &n.namespace, sf, &keep).await?;
    prune::<Ingress>(c, &n.namespace, sf, &keep).await?;
    Ok(())
}

async fn apply(sf: &Storefront, ctx: &Context) -> Result<Action> {
    let n = Names::of(sf);
    let generated = generated_secret(ctx, sf).await?;
    auth_keys(ctx, sf).await?;
    let claim = claim_of(sf);

    let access = admin_access(ctx, sf, &generated).await?;
    let (access, redis_admin) = match access {
        Ok(a) => a,
        Err(SpecProblem(msg)) => {
            let status = problem_status(sf, "InvalidSpec", &msg);
            write_status(ctx, sf, status).await?;
            return Ok(Action::requeue(ctx.resync));
        }
    };
    let systems = match ctx.connector.connect(&access) {
        Ok(s) => s,
        Err(e) => {
            let status = problem_status(sf, "InvalidSpec", &e.to_string());
            write_status(ctx, sf, status).await?;
            return Ok(Action::requeue(ctx.resync));
        }
    };

    // The Kubernetes objects (managed servers included) are applied before provisioning: a
    // managed server must run before it can be provisioned. The roles' Redis credentials are
    // a guess until the Redis user is ensured (a managed Redis 7 has ACLs); when the guess was
    // wrong the objects are applied again with the right ones.
    let s3 = S3Access {
        access_key: access.s3_access_key.clone(),
        secret_key: access.s3_secret_key.clone(),
        region: access.s3_region.clone(),
    };
    let draft = desired::desired(
        sf,
        &Inputs {
            generated: generated.clone(),
            redis_auth: None,
            s3: s3.clone(),
        },
    );
    let acl_user = Some((
        draft.redis_user.username.clone(),
        draft.redis_user.password.clone(),
    ));
    let guess = match sf.spec.redis.mode {
        DependencyMode::Managed => acl_user.clone(),
        DependencyMode::External => redis_admin.clone(),
    };
    let mut inputs = Inputs {
        generated: generated.clone(),
        redis_auth: guess.clone(),
        s3,
    };
    let mut plan = desired::desired(sf, &inputs);
    apply_children(ctx, sf, &plan).await?;

    let (dbs, topics, buckets, redis) = provision(&systems, &plan, &claim).await;
    inputs.redis_auth = match &redis {
        Ok(true) => acl_user,
        Ok(false) => redis_admin.clone(),
        Err(_) => guess.clone(),
    };
    if inputs.redis_auth != guess {
        plan = desired::desired(sf, &inputs);
        apply_children(ctx, sf, &plan).await?;
    }

    // Ready replicas per role.
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

    let mut redis_area = Area::default();
    redis_area.record("redis user", redis.map(|_| Ensured::Unchanged));
    let status = compute_status(sf, &plan, &ready, &dbs, &topics, &buckets, &redis_area);
    let transient =
        dbs.transient() || topics.transient() || buckets.transient() || redis_area.transient();
    write_status(ctx, sf, status).await?;
    if transient {
        Ok(Action::requeue(ctx.next_backoff(&key_of(sf))))
    } else {
        ctx.reset_backoff(&key_of(sf));
        Ok(Action::requeue(ctx.resync))
    }
}

/// The status after a reconcile (pure; conditions keep their transition time when unchanged).
pub fn compute_status(
    sf: &Storefront,
    plan: &Desired,
    ready: &BTreeMap<String, i32>,
    dbs: &Area,
    topics: &Area,
    buckets: &Area,
    redis: &Area,
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
    let workloads = if waiting.is_empty() {
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
    let mut dbs_c = dbs.condition("DatabasesReady", "databases");
    if dbs_c.status == "True" && !redis.errors.is_empty() {
        dbs_c = redis.condition("DatabasesReady", "Redis users");
    }
    let parts = [
        dbs_c,
        topics.condition("TopicsReady", "topics"),
        buckets.condition("BucketsReady", "buckets"),
        workloads,
    ];
    let conflicts: Vec<String> = [dbs, topics, buckets]
        .iter()
        .flat_map(|a| a.conflicts().map(|e| e.to_string()))
        .collect();
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
    finish_status(
        sf,
        conditions,
        ready_replicas,
        Some(plan.gateway_url.clone()),
    )
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
    finish_status(sf, conditions, old.ready_replicas, old.gateway_url)
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

/// Applies `deletionPolicy`: Delete drops the data, Retain releases the claims. NotFound is
/// success; any other failure is written to the status and keeps the finalizer.
async fn cleanup(sf: &Storefront, ctx: &Context) -> Result<Action> {
    let generated = generated_secret_read(ctx, sf).await?;
    let claim = claim_of(sf);
    let access = match admin_access(ctx, sf, &generated).await? {
        Ok((a, _)) => a,
        Err(SpecProblem(m)) => {
            let status = problem_status(sf, "CleanupFailed", &m);
            write_status(ctx, sf, status).await?;
            return Err(Error::Cleanup(m));
        }
    };
    let systems = ctx
        .connector
        .connect(&access)
        .map_err(|e| Error::Cleanup(e.to_string()))?;
    let plan = desired::desired(
        sf,
        &Inputs {
            generated,
            ..Default::default()
        },
    );
    let errors = cleanup_external(&systems, &plan, &claim, sf.spec.deletion_policy).await;
    if errors.is_empty() {
        tracing::info!(policy = ?sf.spec.deletion_policy, "cleanup done");
        return Ok(Action::await_change());
    }
    let msg = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let status = problem_status(sf, "CleanupFailed", &msg);
    write_status(ctx, sf, status).await?;
    Err(Error::Cleanup(msg))
}

/// Releases or deletes every external resource; returns what failed.
pub async fn cleanup_external(
    systems: &Systems,
    plan: &Desired,
    claim: &Claim,
    policy: DeletionPolicy,
) -> Vec<ExtError> {
    let mut errors = Vec::new();
    let mut keep = |r: Result<(), ExtError>| {
        if let Err(e) = r {
            errors.push(e);
        }
    };
    match policy {
        DeletionPolicy::Retain => {
            for db in &plan.databases {
                keep(systems.databases.release(db, claim).await);
            }
            for t in &plan.topics {
                keep(systems.topics.release(t, claim).await);
            }
            for b in &plan.buckets {
                keep(systems.buckets.release(b, claim).await);
            }
        }
        DeletionPolicy::Delete => {
            for db in &plan.databases {
                keep(systems.databases.delete(db, claim).await);
            }
            for t in &plan.topics {
                keep(systems.topics.delete(t, claim).await);
            }
            for b in &plan.buckets {
                keep(systems.buckets.delete(b, claim).await);
            }
            keep(systems.redis.delete(&plan.redis_user).await);
        }
    }
    errors
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
