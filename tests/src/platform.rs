//! The whole platform as the README runs it: the `storefront` binary as child processes
//! (`storefront up --roles ...`), every role on a free loopback port, with its own databases,
//! Redis keys, topics and buckets (a unique prefix), against the dev stack or a private broker.
//! Black-box tests drive it only through the gateway; fault tests kill and restart its processes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Every role's name in start order (the gateway last), from the platform's one role list.
pub const ROLES: [&str; 12] = {
    let order = storefront_kit::contracts::roles::Role::START_ORDER;
    let mut names = [""; 12];
    let mut i = 0;
    while i < names.len() {
        names[i] = order[i].name();
        i += 1;
    }
    names
};

/// The `storefront` binary: `STOREFRONT_BIN`, else a debug build made once per test process.
pub fn storefront_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("STOREFRONT_BIN") {
            return PathBuf::from(p);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .args(["build", "-q", "-p", "storefront-cli"])
            .current_dir(&root)
            .status()
            .expect("running cargo build -p storefront-cli");
        assert!(status.success(), "cargo build -p storefront-cli failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        target.join("debug").join("storefront")
    })
    .clone()
}

/// Free loopback ports (bound and released; a small race with other processes is accepted).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Settings for runs with many shoppers from one address: no rate limit, no sign-up throttle,
/// and timeouts that suit hundreds of concurrent checkouts on a debug build with two cores
/// (these tests are about what happens to stock and money, not about latency).
pub fn many_shoppers() -> Vec<(String, String)> {
    [
        ("STOREFRONT_GATEWAY__RATE_LIMIT__ENABLED", "false"),
        ("STOREFRONT_AUTH__THROTTLE__ENABLED", "false"),
        ("STOREFRONT_GATEWAY__REQUEST_TIMEOUT_MS", "60000"),
        ("STOREFRONT_GATEWAY__UPSTREAMS__TIMEOUT_MS", "60000"),
        ("STOREFRONT_ORDER__UPSTREAM_TIMEOUT_MS", "60000"),
        ("STOREFRONT_POSTGRES__ACQUIRE_TIMEOUT_SECS", "30"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// How to run the platform.
#[derive(Clone, Debug)]
pub struct Options {
    /// Process groups: a name and the roles that process runs. Roles not named anywhere do
    /// not run. Default: one process with every role.
    pub groups: Vec<(String, Vec<&'static str>)>,
    /// Kafka bootstrap servers. Default: a private broker of this platform (a tansu of its own,
    /// so one test's load or faults cannot reach another test's events).
    pub kafka: Option<String>,
    /// Extra `STOREFRONT_*` settings.
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            groups: vec![("all".into(), ROLES.to_vec())],
            kafka: None,
            env: Vec::new(),
        }
    }
}

struct Group {
    roles: Vec<&'static str>,
    child: Option<Child>,
    log: PathBuf,
}

/// A running platform; processes are killed when it drops.
pub struct Platform {
    /// `http://127.0.0.1:<port>` of the gateway.
    pub gateway: String,
    /// The unique prefix of this platform's data (`<prefix>_` databases, `<prefix>:` keys...).
    pub prefix: String,
    pub ports: BTreeMap<&'static str, u16>,
    /// Kafka bootstrap servers the platform uses; its topics are `<prefix>.<name>`.
    pub kafka: String,
    env: Vec<(String, String)>,
    groups: BTreeMap<String, Group>,
    /// The private broker, when the options named none.
    _broker: Option<PrivateBroker>,
}

/// How many times [`Platform::start`] picks new ports when a process found its port taken.
const START_ATTEMPTS: u32 = 3;

impl Platform {
    /// Starts every group and waits until each of its roles is ready. The ports are free when
    /// picked but released until the processes bind them, so another process (an outgoing
    /// connection's ephemeral port, another test's platform) may take one meanwhile: a start
    /// that fails on a taken port is tried again with new ports.
    pub async fn start(opts: Options) -> Self {
        let broker = match opts.kafka {
            Some(_) => None,
            None => Some(PrivateBroker::start().await),
        };
        let kafka = opts
            .kafka
            .clone()
            .or_else(|| broker.as_ref().map(|b| b.address()))
            .expect("a broker");
        let prefix = crate::unique("bb").replace('_', "");
        let dir = std::env::temp_dir().join(format!("storefront-{prefix}"));
        std::fs::create_dir_all(&dir).expect("platform log dir");
        let groups = opts.groups.iter().map(|(name, roles)| {
            let log = dir.join(format!("{name}.log"));
            let group = Group {
                roles: roles.clone(),
                child: None,
                log,
            };
            (name.clone(), group)
        });
        let mut platform = Platform {
            gateway: String::new(),
            prefix,
            ports: BTreeMap::new(),
            kafka,
            env: Vec::new(),
            groups: groups.collect(),
            _broker: broker,
        };
        let names = platform.group_names();
        for attempt in 1.. {
            platform.pick_ports(&opts.env);
            for name in &names {
                platform.spawn(name);
            }
            let mut failed = None;
            for name in &names {
                if let Err(e) = platform.try_wait_ready(name).await {
                    failed = Some(format!("{e}:\n{}", platform.log(name)));
                    break;
                }
            }
            match failed {
                None => break,
                Some(e) if attempt < START_ATTEMPTS && e.contains("Address already in use") => {
                    eprintln!("platform {}: a port was taken; new ports", platform.prefix);
                    for name in &names {
                        platform.kill(name).await;
                        let _ = std::fs::remove_file(&platform.groups[name].log);
                    }
                }
                Some(e) => panic!("{e}"),
            }
        }
        platform
    }

    /// Free ports for every role and the settings that name them.
    fn pick_ports(&mut self, extra: &[(String, String)]) {
        let prefix = &self.prefix;
        let ports: BTreeMap<&'static str, u16> =
            ROLES.iter().copied().zip(free_ports(ROLES.len())).collect();
        let url = |role: &str| format!("http://127.0.0.1:{}", ports[role]);
        let mut env: Vec<(String, String)> = vec![
            (
                "STOREFRONT_POSTGRES__DATABASE_PREFIX".into(),
                format!("{prefix}_"),
            ),
            ("STOREFRONT_REDIS__KEY_PREFIX".into(), format!("{prefix}:")),
            (
                "STOREFRONT_KAFKA__TOPIC_PREFIX".into(),
                format!("{prefix}."),
            ),
            ("STOREFRONT_S3__BUCKET_PREFIX".into(), format!("{prefix}-")),
            (
                "STOREFRONT_AUTH__JWKS_URL".into(),
                format!("{}/.well-known/jwks.json", url("auth")),
            ),
            ("STOREFRONT_TELEMETRY__LOG_LEVEL".into(), "warn".into()),
            // Nine databases in one process: with the default pools of 10 a busy platform alone
            // would take 90 of the dev PostgreSQL's 100 connections.
            ("STOREFRONT_POSTGRES__MAX_CONNECTIONS".into(), "4".into()),
            ("NO_COLOR".into(), "1".into()),
            ("STOREFRONT_KAFKA__BROKERS".into(), self.kafka.clone()),
        ];
        for role in ROLES {
            let upper = role.to_uppercase();
            env.push((
                format!("STOREFRONT_{upper}__LISTEN"),
                format!("127.0.0.1:{}", ports[role]),
            ));
            if role != "gateway" {
                env.push((format!("STOREFRONT_GATEWAY__UPSTREAMS__{upper}"), url(role)));
            }
        }
        // Service-to-service addresses.
        for (key, callee) in [
            ("ORDER__PRODUCT_URL", "product"),
            ("ORDER__INVENTORY_URL", "inventory"),
            ("ORDER__CART_URL", "cart"),
            ("CART__UPSTREAMS__PRODUCT", "product"),
            ("CART__UPSTREAMS__INVENTORY", "inventory"),
            ("CART__UPSTREAMS__ORDER", "order"),
            ("RECOMMENDATION__PRODUCT_URL", "product"),
        ] {
            env.push((format!("STOREFRONT_{key}"), url(callee)));
        }
        // Catalog images at the gateway's media route, where this platform's gateway listens.
        env.push((
            "STOREFRONT_PRODUCT__IMAGE_URL_BASE".into(),
            format!("{}/api/v1/media", url("gateway")),
        ));
        env.extend(extra.iter().cloned());
        self.gateway = url("gateway");
        self.ports = ports;
        self.env = env;
    }

    fn spawn(&mut self, name: &str) {
        let group = self.groups.get_mut(name).expect("known group");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&group.log)
            .expect("platform log file");
        let child = Command::new(storefront_bin())
            .arg("up")
            .arg("--no-seed")
            .arg("--roles")
            .arg(group.roles.join(","))
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawning storefront up");
        group.child = Some(child);
    }

    /// Polls every role of `name` until its `/readyz` answers 200 (two minutes at most).
    pub async fn wait_ready(&mut self, name: &str) {
        if let Err(e) = self.try_wait_ready(name).await {
            panic!("{e}:\n{}", self.log(name));
        }
    }

    async fn try_wait_ready(&mut self, name: &str) -> Result<(), String> {
        let http = reqwest::Client::new();
        let roles = self.groups[name].roles.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        for role in roles {
            let url = format!("http://127.0.0.1:{}/readyz", self.ports[role]);
            loop {
                if let Ok(r) = http.get(&url).timeout(Duration::from_secs(2)).send().await
                    && r.status().is_success()
                {
                    break;
                }
                let group = self.groups.get_mut(name).expect("known group");
                if let Some(Ok(Some(status))) = group.child.as_mut().map(|c| c.try_wait()) {
                    return Err(format!(
                        "storefront up ({name}) exited with {status} before {role} was ready"
                    ));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!("{role} ({name}) not ready after 120 s"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// SIGKILLs the process of group `name` (no shutdown, no draining) and waits for it to die.
    pub async fn kill(&mut self, name: &str) {
        let group = self.groups.get_mut(name).expect("known group");
        if let Some(mut child) = group.child.take() {
            child.start_kill().expect("kill -9");
            let _ = child.wait().await;
        }
    }

    /// Starts group `name` again and waits until it is ready.
    pub async fn restart(&mut self, name: &str) {
        self.kill(name).await;
        self.spawn(name);
        self.wait_ready(name).await;
    }

    /// The process id of group `name`, while it runs.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.groups[name].child.as_ref().and_then(Child::id)
    }

    /// The names of the process groups.
    pub fn group_names(&self) -> Vec<String> {
        self.groups.keys().cloned().collect()
    }

    /// Creates an admin account with `storefront admin create`, as the README says.
    pub async fn create_admin(&self, email: &str, password: &str) {
        let out = Command::new(storefront_bin())
            .args(["admin", "create", "--email", email])
            .env("STOREFRONT_ADMIN_PASSWORD", password)
            .envs(self.env.iter().cloned())
            .output()
            .await
            .expect("storefront admin create");
        assert!(
            out.status.success(),
            "admin create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The log of group `name` so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(&self.groups[name].log).unwrap_or_default()
    }

    /// The settings every process of this platform runs with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// A URL under the gateway.
    /// A small pool on `role`'s database of this platform (read-only looks in tests).
    pub async fn database(&self, role: &str) -> sqlx::PgPool {
        let pg = crate::common().postgres;
        let mut mine = pg.clone();
        mine.database_prefix = format!("{}_", self.prefix);
        let name = storefront_kit::db::database_name(&mine, role);
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(
                storefront_kit::db::connect_options(&pg, &name).expect("postgres settings"),
            )
            .await
            .unwrap_or_else(|e| panic!("{role} database {name}: {e}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for g in self.groups.values_mut() {
            if let Some(c) = g.child.as_mut() {
                let _ = c.start_kill();
            }
        }
    }
}

/// A Kafka-protocol broker (tansu, as the dev stack runs it) of one test, on a free port with
/// its own storage, so a test can stop it without disturbing the others.
pub struct PrivateBroker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateBroker {
    /// The tansu binary the dev stack installed.
    fn bin() -> PathBuf {
        let tools = std::env::var("STOREFRONT_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default())
                    .join(".cache/storefront/tools")
            });
        tools.join("bin").join("tansu")
    }

    pub async fn start() -> Self {
        let port = free_ports(1)[0];
        let dir = std::env::temp_dir().join(crate::unique("tansu"));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut b = PrivateBroker {
            port,
            dir,
            child: None,
        };
        b.resume().await;
        b
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker again on the same port and storage; waits until it accepts connections.
    pub async fn resume(&mut self) {
        let log = std::fs::File::create(self.dir.join("tansu.log")).expect("broker log");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(Self::bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("starting tansu (scripts/dev-stack.sh up installs it)");
        self.child = Some(child);
        crate::eventually(
            Duration::from_secs(30),
            "the private broker to listen",
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        // The index tansu's SQLite schema lacks (scripts/tansu-index.py says why).
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/tansu-index.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(self.dir.join("tansu.db"))
            .output()
            .await
            .expect("running python3 scripts/tansu-index.py");
        assert!(
            out.status.success(),
            "scripts/tansu-index.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// SIGKILLs the broker (its storage survives).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
