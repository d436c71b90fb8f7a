//! Redis: one ACL user per Storefront, limited to its key prefix, where the server supports
//! ACLs (Redis 6+). Servers without ACLs are reported as such and the roles use the admin
//! credentials.
//!
//! **Claims.** Key prefixes are claimed in the hash [`CLAIMS_KEY`] (field: the prefix, value:
//! the encoded [`Claim`]), like databases, topics and buckets: the older Storefront wins a
//! prefix, and the users of younger Storefronts whose prefix overlaps are deleted at once, so
//! a Storefront that lost a conflict cannot read or write the winner's keys. Two prefixes
//! overlap when they are equal or either is empty (the empty prefix covers every key).

use futures::FutureExt;
use futures::future::BoxFuture;
use redis::AsyncCommands as _;

use super::{Claim, ExtError, ExtResult, RedisUsers};
use crate::desired::{RedisUserPlan, redis_username};

/// The hash that holds the key-prefix claims.
pub const CLAIMS_KEY: &str = "storefront.io:claims";

/// Whether two key prefixes (`shop:` or empty) can name the same key.
pub fn prefixes_overlap(a: &str, b: &str) -> bool {
    a == b || a.is_empty() || b.is_empty()
}

/// The real [`RedisUsers`].
pub struct Redis {
    client: redis::Client,
}

type Conn = redis::aio::MultiplexedConnection;

impl Redis {
    pub fn new(url: &str) -> ExtResult<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| ExtError::Permanent(format!("invalid Redis URL: {e}")))?;
        Ok(Self { client })
    }

    async fn conn(&self) -> ExtResult<Conn> {
        let fut = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(std::time::Duration::from_secs(5), fut).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(classify(e)),
            Err(_) => Err(ExtError::Transient("Redis: connection timed out".into())),
        }
    }

    /// Whether the server knows `ACL`.
    async fn has_acl(conn: &mut Conn) -> ExtResult<bool> {
        match redis::cmd("ACL")
            .arg("WHOAMI")
            .query_async::<String>(conn)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_unknown_command(&e) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }

    async fn claims(conn: &mut Conn) -> ExtResult<Vec<(String, Claim)>> {
        let all: Vec<(String, String)> = conn.hgetall(CLAIMS_KEY).await.map_err(classify)?;
        Ok(all
            .into_iter()
            .filter_map(|(prefix, text)| Claim::decode(&text).map(|c| (prefix, c)))
            .collect())
    }

    /// Claims `user.prefix` for `claim` (optimistic: WATCH, read, MULTI/EXEC, retried when a
    /// concurrent writer changed the hash). Returns the younger claims it displaced.
    async fn claim_prefix(
        conn: &mut Conn,
        user: &RedisUserPlan,
        claim: &Claim,
    ) -> ExtResult<Vec<Claim>> {
        for _ in 0..5 {
            redis::cmd("WATCH")
                .arg(CLAIMS_KEY)
                .query_async::<()>(conn)
                .await
                .map_err(classify)?;
            let mut losers = Vec::new();
            let mut drop_fields = Vec::new();
            for (prefix, other) in Self::claims(conn).await? {
                if other.same_owner(claim) {
                    // Our claim of an earlier prefix: the prefix changed.
                    if prefix != user.prefix {
                        drop_fields.push(prefix);
                    }
                    continue;
                }
                if !prefixes_overlap(&prefix, &user.prefix) {
                    continue;
                }
                if other.older_than(claim) {
                    let _ = redis::cmd("UNWATCH").query_async::<()>(conn).await;
                    return Err(ExtError::Conflict {
                        resource: format!("Redis keys {}", user.key_pattern),
                        owner: format!("{}/{}", other.namespace, other.name),
                    });
                }
                drop_fields.push(prefix);
                losers.push(other);
            }
            let mut tx = redis::pipe();
            tx.atomic();
            // Displaced claims go first: one of them may sit on our own prefix.
            for f in &drop_fields {
                tx.hdel(CLAIMS_KEY, f).ignore();
            }
            tx.hset(CLAIMS_KEY, &user.prefix, claim.encode()).ignore();
            // EXEC answers nil when the watched hash changed meanwhile.
            let done: Option<()> = tx.query_async(conn).await.map_err(classify)?;
            if done.is_some() {
                return Ok(losers);
            }
        }
        Err(ExtError::Transient(
            "Redis: the claims hash kept changing; try again".into(),
        ))
    }

    async fn delete_user(conn: &mut Conn, username: &str) -> ExtResult<()> {
        redis::cmd("ACL")
            .arg("DELUSER")
            .arg(username)
            .query_async::<i64>(conn)
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn ensure_inner(&self, user: &RedisUserPlan, claim: &Claim) -> ExtResult<bool> {
        if user.password.is_empty() || !user.password.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ExtError::Permanent(
                "the Redis user's password is missing or not alphanumeric".into(),
            ));
        }
        let mut conn = self.conn().await?;
        let acl = Self::has_acl(&mut conn).await?;
        let losers = Self::claim_prefix(&mut conn, user, claim).await?;
        if !acl {
            return Ok(false);
        }
        for l in &losers {
            let name = redis_username(&l.namespace, &l.name);
            tracing::warn!(user = %name, owner = %format!("{}/{}", claim.namespace, claim.name),
                "revoking the Redis user of a younger Storefront whose key prefix overlaps");
            Self::delete_user(&mut conn, &name).await?;
        }
        // `reset` first: the rules are the whole truth, so drift is corrected on every resync.
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user.username)
            .arg("reset")
            .arg("on")
            .arg(format!(">{}", user.password))
            .arg(format!("~{}", user.key_pattern))
            .arg("resetchannels")
            .arg(format!("&{}", user.key_pattern))
            // Everything on its own keys except server administration and wiping data.
            .arg("+@all")
            .arg("-@admin")
            .arg("-flushall")
            .arg("-flushdb")
            .query_async::<()>(&mut conn)
            .await
            .map_err(classify)?;
        Ok(true)
    }

    async fn revoke_inner(&self, user: &RedisUserPlan) -> ExtResult<()> {
        let mut conn = self.conn().await?;
        if Self::has_acl(&mut conn).await? {
            Self::delete_user(&mut conn, &user.username).await?;
        }
        Ok(())
    }

    /// Deletes the user and our claims; with `drop_keys`, also the keys under the prefix when
    /// we held its claim and it is not empty (never every key of a shared server).
    async fn remove_inner(
        &self,
        user: &RedisUserPlan,
        claim: &Claim,
        drop_keys: bool,
    ) -> ExtResult<()> {
        let mut conn = self.conn().await?;
        if Self::has_acl(&mut conn).await? {
            Self::delete_user(&mut conn, &user.username).await?;
        }
        let ours: Vec<String> = Self::claims(&mut conn)
            .await?
            .into_iter()
            .filter(|(_, c)| c.same_owner(claim))
            .map(|(p, _)| p)
            .collect();
        if drop_keys && !user.prefix.is_empty() && ours.contains(&user.prefix) {
            let pattern = format!("{}*", user.prefix);
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                    .map_err(classify)?;
                if !keys.is_empty() {
                    redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async::<i64>(&mut conn)
                        .await
                        .map_err(classify)?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        for p in ours {
            conn.hdel::<_, _, i64>(CLAIMS_KEY, p)
                .await
                .map_err(classify)?;
        }
        Ok(())
    }
}

fn is_unknown_command(e: &redis::RedisError) -> bool {
    let t = e.to_string().to_ascii_lowercase();
    t.contains("unknown command") || t.contains("unknown subcommand")
}

fn classify(e: redis::RedisError) -> ExtError {
    let t = e.to_string();
    let lower = t.to_ascii_lowercase();
    if lower.contains("noauth") || lower.contains("wrongpass") || lower.contains("noperm") {
        ExtError::Permanent(format!("Redis: {t}"))
    } else {
        ExtError::Transient(format!("Redis: {t}"))
    }
}

impl RedisUsers for Redis {
    fn ensure(&self, user: &RedisUserPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<bool>> {
        let (u, c) = (user.clone(), claim.clone());
        async move { self.ensure_inner(&u, &c).await }.boxed()
    }
    fn revoke(&self, user: &RedisUserPlan) -> BoxFuture<'_, ExtResult<()>> {
        let u = user.clone();
        async move { self.revoke_inner(&u).await }.boxed()
    }
    fn delete(&self, user: &RedisUserPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        let (u, c) = (user.clone(), claim.clone());
        async move { self.remove_inner(&u, &c, true).await }.boxed()
    }
    fn release(&self, user: &RedisUserPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        let (u, c) = (user.clone(), claim.clone());
        async move { self.remove_inner(&u, &c, false).await }.boxed()
    }
}

/// Checks that `user` can write under its prefix and nowhere else (used by tests).
pub async fn probe_user(url_host: &str, user: &RedisUserPlan, key: &str) -> Result<(), String> {
    let client = redis::Client::open(format!(
        "redis://{}:{}@{url_host}",
        user.username, user.password
    ))
    .map_err(|e| e.to_string())?;
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    c.set::<_, _, ()>(key, "1")
        .await
        .map_err(|e| e.to_string())?;
    c.del::<_, ()>(key).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    //! Against the local Redis (127.0.0.1:6379, 7.x: ACLs supported).
    use super::*;
    use crate::external::random_password;
    use crate::external::testing::{claim, unique};

    const HOST: &str = "127.0.0.1:6379";

    fn plan(name: &str, prefix: &str) -> RedisUserPlan {
        RedisUserPlan {
            username: redis_username("test", name),
            password: random_password(24),
            key_pattern: format!("{prefix}*"),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn only_equal_or_empty_prefixes_overlap() {
        assert!(prefixes_overlap("a:", "a:"));
        assert!(prefixes_overlap("", "a:"));
        assert!(prefixes_overlap("a:", ""));
        assert!(!prefixes_overlap("a:", "ab:"));
    }

    #[tokio::test]
    async fn acl_user_is_limited_to_its_prefix_and_deleted() {
        let r = Redis::new(&format!("redis://{HOST}")).unwrap();
        let prefix = format!("{}:", unique("sfop"));
        let name = unique("acl");
        let user = plan(&name, &prefix);
        let me = claim(&name, "2026-01-01T00:00:00Z");
        assert!(r.ensure(&user, &me).await.unwrap());
        assert!(r.ensure(&user, &me).await.unwrap(), "ensure is idempotent");
        probe_user(HOST, &user, &format!("{prefix}cart:1"))
            .await
            .unwrap();
        let e = probe_user(HOST, &user, "someone-else:cart:1")
            .await
            .unwrap_err();
        assert!(e.to_lowercase().contains("noperm"), "{e}");
        // Server administration is not allowed.
        let client = redis::Client::open(format!(
            "redis://{}:{}@{HOST}",
            user.username, user.password
        ))
        .unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let e = redis::cmd("FLUSHALL")
            .query_async::<()>(&mut c)
            .await
            .unwrap_err();
        assert!(e.to_string().to_lowercase().contains("noperm"), "{e}");
        // Delete drops the user, its keys and its claim.
        let mut admin = r.conn().await.unwrap();
        admin
            .set::<_, _, ()>(format!("{prefix}cart:9"), "x")
            .await
            .unwrap();
        r.delete(&user, &me).await.unwrap();
        assert!(
            probe_user(HOST, &user, &format!("{prefix}x"))
                .await
                .is_err()
        );
        let left: Option<String> = admin.get(format!("{prefix}cart:9")).await.unwrap();
        assert_eq!(left, None, "Delete removes the keys under the prefix");
        let claims: Option<String> = admin.hget(CLAIMS_KEY, &prefix).await.unwrap();
        assert_eq!(claims, None);
        // Deleting a missing user is success.
        r.delete(&user, &me).await.unwrap();
    }

    /// A younger Storefront with the same prefix gets a conflict and no user; when an older one
    /// takes over a prefix, the younger one's user stops working at once; Retain keeps the keys
    /// and disables the password.
    #[tokio::test]
    async fn overlapping_prefixes_are_isolated_and_retain_disables_the_user() {
        let r = Redis::new(&format!("redis://{HOST}")).unwrap();
        let prefix = format!("{}:", unique("sfop"));
        let (old_name, young_name) = (unique("old"), unique("young"));
        let older = claim(&old_name, "2026-01-01T00:00:00Z");
        let younger = claim(&young_name, "2026-02-01T00:00:00Z");
        let young_user = plan(&young_name, &prefix);
        let old_user = plan(&old_name, &prefix);

        // The younger one came first: it holds the prefix and can write.
        assert!(r.ensure(&young_user, &younger).await.unwrap());
        probe_user(HOST, &young_user, &format!("{prefix}cart:1"))
            .await
            .unwrap();
        // The older one takes it over: the younger's user is gone at once.
        assert!(r.ensure(&old_user, &older).await.unwrap());
        let e = probe_user(HOST, &young_user, &format!("{prefix}cart:1"))
            .await
            .unwrap_err();
        let e = e.to_lowercase();
        assert!(
            e.contains("wrongpass") || e.contains("authentication failed"),
            "{e}"
        );
        // And the younger one cannot get it back.
        let e = r.ensure(&young_user, &younger).await.unwrap_err();
        assert!(
            matches!(e, ExtError::Conflict { ref owner, .. } if owner == &format!("test/{old_name}")),
            "{e:?}"
        );
        assert!(
            probe_user(HOST, &young_user, &format!("{prefix}x"))
                .await
                .is_err()
        );

        // Retain: the keys stay, the password stops working, the prefix is free again.
        let mut admin = r.conn().await.unwrap();
        admin
            .set::<_, _, ()>(format!("{prefix}cart:2"), "kept")
            .await
            .unwrap();
        r.release(&old_user, &older).await.unwrap();
        assert!(
            probe_user(HOST, &old_user, &format!("{prefix}x"))
                .await
                .is_err()
        );
        let kept: Option<String> = admin.get(format!("{prefix}cart:2")).await.unwrap();
        assert_eq!(kept.as_deref(), Some("kept"));
        assert!(
            r.ensure(&young_user, &younger).await.unwrap(),
            "released prefixes are free"
        );
        r.delete(&young_user, &younger).await.unwrap();
    }
}
