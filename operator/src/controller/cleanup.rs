//! Deletion: `deletionPolicy` applied by the finalizer, retried a bounded number of times,
//! and the external systems cleaned up by scope.

#[allow(unused_imports)]
use super::*;

/// Applies `deletionPolicy` to every external resource the Storefront ever had (the tracked
/// ones and the current plan's), on the systems it does not manage itself (a managed server
/// goes with its StatefulSet). Cleanup that keeps failing is given up after
/// `ctx.cleanup_attempts` attempts: the finalizer is released with a warning event naming what
/// may be left, so neither the Storefront nor its namespace hangs.
pub(super) async fn cleanup(sf: &Storefront, ctx: &Context) -> Result<Action> {
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
pub(super) fn leftovers(sf: &Storefront, tracked_before: &Provisioned) -> Provisioned {
    let plan = desired::desired(sf, &Inputs::default());
    tracked_before.union(&tracked(&plan))
}

pub(super) fn describe(p: &Provisioned) -> String {
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
pub(super) async fn cleanup_once(
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
    pub(super) fn failed(area: &[ExtError]) -> bool {
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
