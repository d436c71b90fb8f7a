//! The external systems (databases, topics, buckets, Redis users): provisioning with a
//! per-area outcome, what is tracked for cleanup, and applying only what changed.

#[allow(unused_imports)]
use super::*;

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
    pub(super) fn record(&mut self, what: &str, r: Result<Ensured, ExtError>) {
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
    pub(super) fn done(total: usize) -> Self {
        Self {
            total,
            ..Default::default()
        }
    }
    /// The first transient error, if any (then the system is taken as unreachable).
    pub(super) fn unreachable(&self) -> Option<ExtError> {
        self.errors
            .iter()
            .find(|e| matches!(e, ExtError::Transient(_)))
            .cloned()
    }
    pub(super) fn transient(&self) -> bool {
        self.errors
            .iter()
            .any(|e| matches!(e, ExtError::Transient(_)))
    }
    pub(super) fn conflicts(&self) -> impl Iterator<Item = &ExtError> {
        self.errors
            .iter()
            .filter(|e| matches!(e, ExtError::Conflict { .. }))
    }
    pub(super) fn condition(&self, type_: &str, noun: &str) -> Condition {
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
pub(super) fn dedup_messages(errors: &[ExtError]) -> String {
    let mut msgs: Vec<String> = Vec::new();
    for e in errors {
        let m = e.to_string();
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    msgs.join("; ")
}

pub(super) fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
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
    pub(super) fn areas(&self) -> [&Area; 4] {
        [&self.databases, &self.topics, &self.buckets, &self.redis]
    }
    /// Conflicts with older Storefronts, in any system.
    pub fn conflicts(&self) -> Vec<String> {
        self.areas()
            .iter()
            .flat_map(|a| a.conflicts().map(|e| e.to_string()))
            .collect()
    }
    pub(super) fn transient(&self) -> bool {
        self.areas().iter().any(|a| a.transient())
    }
    pub(super) fn clean(&self) -> bool {
        self.areas().iter().all(|a| a.errors.is_empty())
    }
    pub(super) fn changed(&self) -> Vec<String> {
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
pub(super) fn external_digest(plan: &Desired) -> String {
    use sha2::Digest as _;
    let text = format!(
        "{:?}{:?}{:?}{:?}{:?}",
        plan.databases, plan.topics, plan.buckets, plan.redis_user, plan.s3_users
    );
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8])
}

/// Applies `children` that differ from what is live (or were changed by someone else since
/// the operator applied them), stamping each with its digest. Returns how many were written.
pub(super) async fn apply_changed(
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
pub(super) async fn prune(
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
pub(super) enum RedisAuth {
    Known(Option<(String, String)>),
    /// Not known yet (first contact failed): the roles' objects are left as they are.
    Unknown,
}
