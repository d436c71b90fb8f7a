//! Redis: one ACL user per Storefront, limited to its key prefix, where the server supports
//! ACLs (Redis 6+). Servers without ACLs are reported as such and the roles use the admin
//! credentials.

use futures::FutureExt;
use futures::future::BoxFuture;
use redis::AsyncCommands as _;

use super::{ExtError, ExtResult, RedisUsers};
use crate::desired::RedisUserPlan;

/// The real [`RedisUsers`].
pub struct Redis {
    client: redis::Client,
}

impl Redis {
    pub fn new(url: &str) -> ExtResult<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| ExtError::Permanent(format!("invalid Redis URL: {e}")))?;
        Ok(Self { client })
    }

    async fn conn(&self) -> ExtResult<redis::aio::MultiplexedConnection> {
        let fut = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(std::time::Duration::from_secs(5), fut).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(classify(e)),
            Err(_) => Err(ExtError::Transient("Redis: connection timed out".into())),
        }
    }

    /// Whether the server knows `ACL`.
    async fn has_acl(conn: &mut redis::aio::MultiplexedConnection) -> ExtResult<bool> {
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

    async fn ensure_inner(&self, user: &RedisUserPlan) -> ExtResult<bool> {
        if user.password.is_empty() || !user.password.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ExtError::Permanent(
                "the Redis user's password is missing or not alphanumeric".into(),
            ));
        }
        let mut conn = self.conn().await?;
        if !Self::has_acl(&mut conn).await? {
            return Ok(false);
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

    async fn delete_inner(&self, user: &RedisUserPlan) -> ExtResult<()> {
        let mut conn = self.conn().await?;
        if !Self::has_acl(&mut conn).await? {
            return Ok(());
        }
        redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&user.username)
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(classify)
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
    fn ensure(&self, user: &RedisUserPlan) -> BoxFuture<'_, ExtResult<bool>> {
        let u = user.clone();
        async move { self.ensure_inner(&u).await }.boxed()
    }
    fn delete(&self, user: &RedisUserPlan) -> BoxFuture<'_, ExtResult<()>> {
        let u = user.clone();
        async move { self.delete_inner(&u).await }.boxed()
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
    use crate::external::testing::unique;

    #[tokio::test]
    async fn acl_user_is_limited_to_its_prefix_and_deleted() {
        let r = Redis::new("redis://127.0.0.1:6379").unwrap();
        let prefix = unique("sfop");
        let user = RedisUserPlan {
            username: format!("storefront-test-{prefix}"),
            password: random_password(24),
            key_pattern: format!("{prefix}:*"),
        };
        assert!(r.ensure(&user).await.unwrap());
        assert!(r.ensure(&user).await.unwrap(), "ensure is idempotent");
        probe_user("127.0.0.1:6379", &user, &format!("{prefix}:cart:1"))
            .await
            .unwrap();
        let e = probe_user("127.0.0.1:6379", &user, "someone-else:cart:1")
            .await
            .unwrap_err();
        assert!(e.to_lowercase().contains("noperm"), "{e}");
        // Server administration is not allowed.
        let client = redis::Client::open(format!(
            "redis://{}:{}@127.0.0.1:6379",
            user.username, user.password
        ))
        .unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let e = redis::cmd("FLUSHALL")
            .query_async::<()>(&mut c)
            .await
            .unwrap_err();
        assert!(e.to_string().to_lowercase().contains("noperm"), "{e}");
        r.delete(&user).await.unwrap();
        assert!(
            probe_user("127.0.0.1:6379", &user, &format!("{prefix}:x"))
                .await
                .is_err()
        );
        // Deleting a missing user is success.
        r.delete(&user).await.unwrap();
    }
}
