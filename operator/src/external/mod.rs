//! Systems outside Kubernetes (PostgreSQL, Kafka, S3, Redis), each behind a trait so the
//! reconcile logic is testable without them; the real implementations are in the submodules.
//!
//! **Claims.** A Storefront claims every database, topic and bucket it provisions, so that two
//! Storefronts pointed at one server cannot silently share data. The claim names the owner
//! (`namespace/name`, uid, creation time) and is kept beside the resource:
//! PostgreSQL: the database's `COMMENT`; S3: an object `.storefront-claim` in the bucket;
//! Kafka (topic configs cannot carry free text): a record keyed by topic name in the compacted
//! topic `__storefront_claims`. The older Storefront wins (creation time, then uid); the other
//! gets [`ExtError::Conflict`], surfaced as the `ResourceConflict` condition. An unclaimed
//! resource that already exists is adopted. `deletionPolicy: Retain` releases the claim on
//! delete, so a later Storefront can adopt the data.

pub mod kafka;
pub mod minio;
pub mod postgres;
pub mod redis;
pub mod s3;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::desired::{DatabasePlan, RedisUserPlan, S3UserPlan, TopicPlan};

/// Who owns an external resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `metadata.creationTimestamp` (RFC 3339, UTC).
    pub created: String,
}

impl Claim {
    /// `storefront.io/claim {json}`: the text stored beside the resource.
    pub fn encode(&self) -> String {
        format!(
            "{CLAIM_TAG} {}",
            serde_json::to_string(self).expect("a claim serialises")
        )
    }

    /// A claim read back; `None` for anything that is not one (e.g. a human's comment).
    pub fn decode(text: &str) -> Option<Claim> {
        serde_json::from_str(text.trim().strip_prefix(CLAIM_TAG)?.trim()).ok()
    }

    /// Whether `self` and `other` are the same Storefront.
    pub fn same_owner(&self, other: &Claim) -> bool {
        self.uid == other.uid
    }

    /// Whether `self` was created before `other` (ties broken by uid): the older claim wins.
    pub fn older_than(&self, other: &Claim) -> bool {
        (self.created.as_str(), self.uid.as_str()) < (other.created.as_str(), other.uid.as_str())
    }

    /// What to do about a resource that carries `existing` (or no claim).
    pub fn decide(&self, existing: Option<&Claim>) -> ClaimDecision {
        match existing {
            None => ClaimDecision::Take,
            Some(c) if c.same_owner(self) => ClaimDecision::Ours,
            Some(c) if self.older_than(c) => ClaimDecision::Take,
            Some(c) => ClaimDecision::Conflict(format!("{}/{}", c.namespace, c.name)),
        }
    }
}

/// Prefix of a stored claim.
pub const CLAIM_TAG: &str = "storefront.io/claim";

/// What [`Claim::decide`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Unclaimed, or claimed by a younger Storefront: (re)write our claim.
    Take,
    /// Already ours.
    Ours,
    /// Owned by an older Storefront (named).
    Conflict(String),
}

/// What ensuring a resource did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ensured {
    Created,
    /// It existed (unclaimed or claimed by a younger Storefront) and is ours now.
    Adopted,
    /// It was ours and matched, or drift was corrected.
    Unchanged,
}

/// An error of an external system.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ExtError {
    /// Another, older Storefront owns the resource.
    #[error("{resource} is claimed by Storefront {owner}")]
    Conflict { resource: String, owner: String },
    /// Worth retrying (unreachable, timeout, ...).
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help until something changes (bad credentials, invalid name, ...).
    #[error("{0}")]
    Permanent(String),
}

pub type ExtResult<T> = Result<T, ExtError>;

/// PostgreSQL: one database and one login role per service.
pub trait Databases: Send + Sync {
    /// Creates or adopts the database and its owner role (password set, connect rights only
    /// for the owner), and claims it.
    fn ensure(&self, db: &DatabasePlan, claim: &Claim) -> BoxFuture<'_, ExtResult<Ensured>>;
    /// Drops the database and role if they are ours (missing is success).
    fn delete(&self, db: &DatabasePlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>>;
    /// Removes our claim and keeps the data.
    fn release(&self, db: &DatabasePlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>>;
}

/// Kafka topics.
pub trait Topics: Send + Sync {
    /// Creates or adopts the topic, raising partitions and correcting retention when they
    /// drifted (where the broker supports it).
    fn ensure(&self, topic: &TopicPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<Ensured>>;
    fn delete(&self, topic: &TopicPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>>;
    fn release(&self, topic: &TopicPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>>;
    /// `Some(why)` when topics must not be deleted on this broker (cleanup then releases
    /// them and says why in a warning).
    fn deletion_guard(&self) -> BoxFuture<'_, ExtResult<Option<String>>>;
}

/// S3 buckets.
pub trait Buckets: Send + Sync {
    fn ensure(&self, bucket: &str, claim: &Claim) -> BoxFuture<'_, ExtResult<Ensured>>;
    /// Empties and deletes the bucket if it is ours (missing is success).
    fn delete(&self, bucket: &str, claim: &Claim) -> BoxFuture<'_, ExtResult<()>>;
    fn release(&self, bucket: &str, claim: &Claim) -> BoxFuture<'_, ExtResult<()>>;
}

/// Redis: the Storefront's key prefix is claimed (a prefix overlaps another when they are
/// equal or either is empty, which covers every key), and an ACL user limited to it.
pub trait RedisUsers: Send + Sync {
    /// Claims the key prefix, revokes the users of younger Storefronts whose prefix overlaps,
    /// then creates or updates the user; `Ok(false)` when the server has no ACLs (then the
    /// roles use the admin credentials). An older overlapping claim is [`ExtError::Conflict`].
    fn ensure(&self, user: &RedisUserPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<bool>>;
    /// Deletes the user only (a Storefront that lost a conflict keeps no access).
    fn revoke(&self, user: &RedisUserPlan) -> BoxFuture<'_, ExtResult<()>>;
    /// `deletionPolicy: Delete`: deletes the user, the keys under a claimed non-empty prefix,
    /// and the claim (missing is success).
    fn delete(&self, user: &RedisUserPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>>;
    /// `deletionPolicy: Retain`: deletes the user (its password must stop working) and the
    /// claim, and keeps the keys.
    fn release(&self, user: &RedisUserPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>>;
}

/// Per-role object-store users (MinIO's admin API; S3 itself has no user management).
pub trait ObjectUsers: Send + Sync {
    /// Creates or updates each user with a policy for its buckets; `Ok(false)` when the store
    /// has no admin API (then the roles use the configured keys).
    fn ensure(&self, users: &[S3UserPlan]) -> BoxFuture<'_, ExtResult<bool>>;
    /// Deletes the users (missing, or no admin API, is success).
    fn delete(&self, access_keys: &[String]) -> BoxFuture<'_, ExtResult<()>>;
}

/// How the operator reaches the external systems of one Storefront as an administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminAccess {
    /// `postgres://user:password@host:port/postgres`.
    pub postgres_url: String,
    /// `redis://[user:password@]host:port`.
    pub redis_url: String,
    pub kafka_brokers: String,
    pub s3_endpoint: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    pub s3_region: String,
}

/// The external systems of one Storefront.
pub struct Systems {
    pub databases: Box<dyn Databases>,
    pub topics: Box<dyn Topics>,
    pub buckets: Box<dyn Buckets>,
    pub redis: Box<dyn RedisUsers>,
    pub object_users: Box<dyn ObjectUsers>,
}

/// Makes [`Systems`] for given admin access; the real one connects, tests hand out fakes.
pub trait Connector: Send + Sync {
    fn connect(&self, access: &AdminAccess) -> ExtResult<Systems>;
}

/// The real systems.
pub struct RealConnector;

impl Connector for RealConnector {
    fn connect(&self, access: &AdminAccess) -> ExtResult<Systems> {
        Ok(Systems {
            databases: Box::new(postgres::Postgres::new(&access.postgres_url)?),
            topics: Box::new(kafka::Kafka::new(&access.kafka_brokers)?),
            buckets: Box::new(s3::S3::new(
                &access.s3_endpoint,
                &access.s3_access_key,
                &access.s3_secret_key,
                &access.s3_region,
            )),
            redis: Box::new(redis::Redis::new(&access.redis_url)?),
            object_users: Box::new(minio::MinioAdmin::new(
                &access.s3_endpoint,
                &access.s3_access_key,
                &access.s3_secret_key,
                &access.s3_region,
            )?),
        })
    }
}

/// A random password of letters and digits (safe inside URLs and SQL literals).
pub fn random_password(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the tests against the real local systems.
    use super::Claim;

    /// A claim of a made-up Storefront created at `created`.
    pub fn claim(name: &str, created: &str) -> Claim {
        Claim {
            namespace: "test".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            created: created.into(),
        }
    }

    /// A name unique to this test run.
    pub fn unique(base: &str) -> String {
        let n = super::random_password(6).to_ascii_lowercase();
        format!("{base}{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::claim;
    use super::*;

    #[test]
    fn claims_round_trip_and_the_older_wins() {
        let old = claim("old", "2026-01-01T00:00:00Z");
        let new = claim("new", "2026-02-01T00:00:00Z");
        assert_eq!(Claim::decode(&old.encode()), Some(old.clone()));
        assert_eq!(Claim::decode("a comment someone wrote"), None);
        assert_eq!(new.decide(None), ClaimDecision::Take);
        assert_eq!(new.decide(Some(&new)), ClaimDecision::Ours);
        assert_eq!(
            new.decide(Some(&old)),
            ClaimDecision::Conflict("test/old".into())
        );
        assert_eq!(old.decide(Some(&new)), ClaimDecision::Take);
    }

    #[test]
    fn passwords_are_url_safe() {
        let p = random_password(32);
        assert_eq!(p.len(), 32);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(p, random_password(32));
    }
}
