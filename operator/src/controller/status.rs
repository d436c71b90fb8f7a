//! The status of a Storefront: conditions, the computed phase, events on transitions, and
//! writing the status only when it changed.

#[allow(unused_imports)]
use super::*;

/// Events for conditions that changed: a conflict, a failure, readiness reached.
pub(super) async fn transition_events(
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

pub(super) fn problem_status(sf: &Storefront, reason: &str, message: &str) -> StorefrontStatus {
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
pub(super) fn finish_status(
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

pub(super) fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Patches the status subresource when `status` differs from the current one.
pub(super) async fn write_status(
    ctx: &Context,
    sf: &Storefront,
    status: StorefrontStatus,
) -> Result<()> {
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
