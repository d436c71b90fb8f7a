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

impl Error {
    /// The error's label in `storefront_operator_reconcile_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::Cleanup(_) => "cleanup",
        }
    }
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
    ctx.metrics.failed(err.kind());
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

mod children;
mod cleanup;
mod provisioning;
mod secrets_gen;
mod status;

#[allow(unused_imports)]
use children::*;
pub use cleanup::*;
pub use provisioning::*;
#[allow(unused_imports)]
use secrets_gen::*;
pub use status::*;

#[cfg(test)]
mod tests;
