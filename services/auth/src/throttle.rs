//! Brute-force protection in Redis: fixed-window counters per account and per client ip under
//! `ratelimit:{scope}:{key}`. An attempt is counted before the password is checked, so a burst
//! of parallel guesses cannot slip past the limit; a successful login gives the account its
//! budget back. When Redis cannot be reached the check is skipped with a warning (sign-in stays
//! available; argon2's cost still bounds guessing).

use std::net::IpAddr;
use std::time::Duration;

use kit::cache::Keys;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::config::ThrottleSettings;

/// For each key in order: refuse (answering the key's remaining ms) when it is at its limit;
/// otherwise count the attempt on every key. ARGV: window ms, then one limit per key.
const HIT: &str = r#"
for i, k in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', k) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', k)
    if ttl < 0 then
      redis.call('PEXPIRE', k, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    return ttl
  end
end
for _, k in ipairs(KEYS) do
  if redis.call('INCR', k) == 1 then
    redis.call('PEXPIRE', k, ARGV[1])
  end
end
return 0
"#;

/// Gives back one attempt of KEYS[1] (never below zero) and forgets KEYS[2].
const SUCCEEDED: &str = r#"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
redis.call('DEL', KEYS[2])
return 0
"#;

/// Too many attempts: try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited(pub Duration);

#[derive(Clone)]
pub struct Throttle {
    conn: ConnectionManager,
    keys: Keys,
    s: ThrottleSettings,
    hit: redis::Script,
    succeeded: redis::Script,
    timeout: Duration,
}

impl Throttle {
    pub fn new(
        conn: ConnectionManager,
        keys: Keys,
        s: &ThrottleSettings,
        timeout: Duration,
    ) -> Self {
        Self {
            conn,
            keys,
            s: s.clone(),
            hit: redis::Script::new(HIT),
            succeeded: redis::Script::new(SUCCEEDED),
            timeout,
        }
    }

    fn account_key(&self, email: &str) -> String {
        let digest = Sha256::digest(email.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.keys.ratelimit("login:account", hex)
    }

    fn ip_key(&self, scope: &str, ip: IpAddr) -> String {
        self.keys.ratelimit(scope, ip)
    }

    async fn hit(&self, keys: &[(String, u32)], window: Duration) -> Result<(), Limited> {
        if !self.s.enabled || keys.is_empty() {
            return Ok(());
        }
        let mut inv = self.hit.prepare_invoke();
        inv.arg(window.as_millis() as u64);
        for (k, limit) in keys {
            inv.key(k).arg(*limit);
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, inv.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(ms)) => Err(Limited(Duration::from_millis(ms.max(1) as u64))),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "throttle: Redis failed; not throttling");
                Ok(())
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "throttle: Redis did not answer; not throttling");
                Ok(())
            }
        }
    }

    /// Counts a login attempt (or a current-password check) for `email` and `ip`.
    pub async fn login_attempt(&self, email: &str, ip: Option<IpAddr>) -> Result<(), Limited> {
        let mut keys = vec![(self.account_key(email), self.s.login_failures_per_account)];
        if let Some(ip) = ip {
            keys.push((self.ip_key("login:ip", ip), self.s.login_failures_per_ip));
        }
        self.hit(&keys, Duration::from_secs(self.s.login_window_secs))
            .await
    }

    /// The attempt was right: it does not count against the ip, and the account starts afresh.
    pub async fn login_succeeded(&self, email: &str, ip: Option<IpAddr>) {
        if !self.s.enabled {
            return;
        }
        let ip_key = ip
            .map(|ip| self.ip_key("login:ip", ip))
            .unwrap_or_else(|| self.keys.ratelimit("login:ip", "none"));
        let mut inv = self.succeeded.prepare_invoke();
        inv.key(ip_key).key(self.account_key(email));
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, inv.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "throttle: cannot reset the login counters"),
            Err(_) => tracing::warn!("throttle: Redis did not answer resetting the login counters"),
        }
    }

    pub async fn registration(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        let Some(ip) = ip else { return Ok(()) };
        self.hit(
            &[(self.ip_key("register:ip", ip), self.s.registrations_per_ip)],
            Duration::from_secs(self.s.registration_window_secs),
        )
        .await
    }

    pub async fn refresh(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        let Some(ip) = ip else { return Ok(()) };
        self.hit(
            &[(
                self.ip_key("refresh:ip", ip),
                self.s.refreshes_per_ip_per_minute,
            )],
            Duration::from_secs(60),
        )
        .await
    }
}
