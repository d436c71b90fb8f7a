//! The reconciler against a mocked API server (tower-test, after kube-rs controller-rs
//! `fixtures.rs`) and fake external systems: finalizer on first sight, children applied with
//! owner references and the field manager, status written only on change, deletion with Retain
//! and Delete, conflicts and permanent errors as conditions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;
use crate::desired::{DatabasePlan, RedisUserPlan, S3UserPlan, TopicPlan};
use crate::external::{Buckets, Databases, ExtResult, ObjectUsers, RedisUsers, Topics};
use crate::roles::Role;

/// One request the mocked API server saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    body: Value,
}

impl Seen {
    fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }
    fn is_apply(&self) -> bool {
        self.method == "PATCH" && self.uri.contains("fieldManager=storefront-operator")
    }
}

/// A tiny stateful API server: stores what is applied (with a resourceVersion that moves only
/// when the content changes), answers GETs and label-selected lists from it (Deployments with
/// `ready` ready replicas), deletes, echoes status and finalizer patches and events.
struct ApiServer {
    seen: Arc<Mutex<Vec<Seen>>>,
    objects: Arc<Mutex<BTreeMap<String, Value>>>,
    task: tokio::task::JoinHandle<()>,
}

fn respond(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": "not found", "reason": "NotFound", "code": 404})
}

/// Whether `path` names a collection (`.../secrets`) rather than one object.
fn is_collection(path: &str) -> bool {
    const KINDS: [&str; 9] = [
        "configmaps",
        "secrets",
        "serviceaccounts",
        "services",
        "deployments",
        "statefulsets",
        "poddisruptionbudgets",
        "horizontalpodautoscalers",
        "ingresses",
    ];
    KINDS.iter().any(|k| path.ends_with(&format!("/{k}")))
}

impl ApiServer {
    fn start(sf: &Storefront, ready: i32) -> (kube::Client, Self) {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(svc, "prod");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let objects: Arc<Mutex<BTreeMap<String, Value>>> = Arc::new(Mutex::new(BTreeMap::new()));
        let sf_json = serde_json::to_value(sf).unwrap();
        let (seen2, objects2) = (seen.clone(), objects.clone());
        let task = tokio::spawn(async move {
            let mut handle = handle;
            let mut version = 100u64;
            while let Some((req, send)) = handle.next_request().await {
                let method = req.method().to_string();
                let uri = req.uri().to_string();
                let bytes = req.into_body().collect_bytes().await.unwrap();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let s = Seen {
                    method: method.clone(),
                    uri: uri.clone(),
                    body: body.clone(),
                };
                seen2.lock().unwrap().push(s.clone());
                let path = s.path().to_string();
                let mut objects = objects2.lock().unwrap();
                let resp = match method.as_str() {
                    "GET" if is_collection(&path) => {
                        // A list the test stored under the collection's path, else the
                        // objects stored under it.
                        let list = objects.get(&path).cloned().unwrap_or_else(|| {
                            let prefix = format!("{path}/");
                            let items: Vec<Value> = objects
                                .iter()
                                .filter(|(k, _)| {
                                    k.starts_with(&prefix) && !k[prefix.len()..].contains('/')
                                })
                                .map(|(_, v)| {
                                    let mut v = v.clone();
                                    if path.ends_with("/deployments") {
                                        v["status"] = json!({"readyReplicas": ready});
                                    }
                                    v
                                })
                                .collect();
                            json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items})
                        });
                        respond(StatusCode::OK, &list)
                    }
                    "GET" => match objects.get(&path) {
                        Some(o) => respond(StatusCode::OK, o),
                        None => respond(StatusCode::NOT_FOUND, &not_found()),
                    },
                    "PATCH" if path.ends_with("/status") => {
                        let mut o = sf_json.clone();
                        o["status"] = body["status"].clone();
                        respond(StatusCode::OK, &o)
                    }
                    "PATCH" if path.contains("/storefronts/") => {
                        // The finalizer JSON patch: answer with the object as it would be.
                        let mut o = sf_json.clone();
                        o["metadata"]["finalizers"] = json!([FINALIZER]);
                        respond(StatusCode::OK, &o)
                    }
                    "PATCH" => {
                        let mut stored = body.clone();
                        let same = objects.get(&path).is_some_and(|old| {
                            let mut old = old.clone();
                            old["metadata"]
                                .as_object_mut()
                                .map(|m| m.remove("resourceVersion"));
                            old == body
                        });
                        let rv = if same {
                            objects[&path]["metadata"]["resourceVersion"].clone()
                        } else {
                            version += 1;
                            json!(version.to_string())
                        };
                        stored["metadata"]["resourceVersion"] = rv;
                        objects.insert(path, stored.clone());
                        respond(StatusCode::OK, &stored)
                    }
                    "POST" => respond(StatusCode::CREATED, &body),
                    "DELETE" => {
                        objects.remove(&path);
                        respond(
                            StatusCode::OK,
                            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                        )
                    }
                    _ => respond(
                        StatusCode::OK,
                        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                    ),
                };
                drop(objects);
                send.send_response(resp);
            }
        });
        (
            client,
            Self {
                seen,
                objects,
                task,
            },
        )
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// Every write (apply, create, delete, status) the server saw, events aside.
    fn writes(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|s| s.method != "GET" && !s.path().contains("/events"))
            .map(|s| format!("{} {}", s.method, s.path()))
            .collect()
    }

    /// Reasons of the events posted.
    fn events(&self) -> Vec<(String, String, String)> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.path().contains("/events"))
            .map(|s| {
                (
                    s.body["type"].as_str().unwrap_or_default().to_string(),
                    s.body["reason"].as_str().unwrap_or_default().to_string(),
                    s.body["note"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    fn object(&self, path: &str) -> Option<Value> {
        self.objects.lock().unwrap().get(path).cloned()
    }

    fn status_patches(&self) -> Vec<StorefrontStatus> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "PATCH" && s.path().ends_with("/status"))
            .map(|s| serde_json::from_value(s.body["status"].clone()).unwrap())
            .collect()
    }

    /// The last status written.
    fn status(&self) -> StorefrontStatus {
        self.status_patches().pop().expect("a status was written")
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the fake external systems should do, and what they were asked.
#[derive(Default)]
struct Script {
    calls: Vec<String>,
    conflict_database: Option<String>,
    bucket_error: Option<ExtError>,
    topic_error: Option<ExtError>,
    /// What `deletion_guard` answers.
    topic_guard: Option<String>,
    /// Every database call fails with this (a server gone).
    database_error: Option<ExtError>,
    /// The Redis server has no ACLs.
    redis_without_acl: bool,
    /// The object store has per-role users.
    s3_users: bool,
    /// What Redis answers instead of success.
    redis_error: Option<ExtError>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn log(&self, s: String) {
        self.0.lock().unwrap().calls.push(s);
    }
    fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().calls.clone()
    }
}

impl Databases for Fake {
    fn ensure(&self, db: &DatabasePlan, _: &Claim) -> BoxFuture<'_, ExtResult<Ensured>> {
        self.log(format!("ensure db {}", db.database));
        let conflict = self.0.lock().unwrap().conflict_database.clone();
        let err = self.0.lock().unwrap().database_error.clone();
        let name = db.database.clone();
        async move {
            if let Some(e) = err {
                return Err(e);
            }
            match conflict {
                Some(c) if c == name => Err(ExtError::Conflict {
                    resource: format!("database {name}"),
                    owner: "other/older".into(),
                }),
                _ => Ok(Ensured::Created),
            }
        }
        .boxed()
    }
    fn delete(&self, db: &DatabasePlan, _: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("delete db {}", db.database));
        let err = self.0.lock().unwrap().database_error.clone();
        async move { err.map_or(Ok(()), Err) }.boxed()
    }
    fn release(&self, db: &DatabasePlan, _: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("release db {}", db.database));
        let err = self.0.lock().unwrap().database_error.clone();
        async move { err.map_or(Ok(()), Err) }.boxed()
    }
}

impl Topics for Fake {
    fn ensure(&self, t: &TopicPlan, _: &Claim) -> BoxFuture<'_, ExtResult<Ensured>> {
        self.log(format!("ensure topic {}", t.name));
        let err = self.0.lock().unwrap().topic_error.clone();
        async move { err.map_or(Ok(Ensured::Created), Err) }.boxed()
    }
    fn delete(&self, t: &TopicPlan, _: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("delete topic {}", t.name));
        async { Ok(()) }.boxed()
    }
    fn release(&self, t: &TopicPlan, _: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("release topic {}", t.name));
        async { Ok(()) }.boxed()
    }
    fn deletion_guard(&self) -> BoxFuture<'_, ExtResult<Option<String>>> {
        let g = self.0.lock().unwrap().topic_guard.clone();
        async move { Ok(g) }.boxed()
    }
}

impl Buckets for Fake {
    fn ensure(&self, b: &str, _: &Claim) -> BoxFuture<'_, ExtResult<Ensured>> {
        self.log(format!("ensure bucket {b}"));
        async { Ok(Ensured::Created) }.boxed()
    }
    fn delete(&self, b: &str, _: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("delete bucket {b}"));
        let err = self.0.lock().unwrap().bucket_error.clone();
        async move { err.map_or(Ok(()), Err) }.boxed()
    }
    fn release(&self, b: &str, _: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("release bucket {b}"));
        async { Ok(()) }.boxed()
    }
}

impl RedisUsers for Fake {
    fn ensure(&self, u: &RedisUserPlan, _: &Claim) -> BoxFuture<'_, ExtResult<bool>> {
        self.log(format!("ensure redis {}", u.username));
        let acl = !self.0.lock().unwrap().redis_without_acl;
        let err = self.0.lock().unwrap().redis_error.clone();
        async move { err.map_or(Ok(acl), Err) }.boxed()
    }
    fn revoke(&self, u: &RedisUserPlan) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("revoke redis {}", u.username));
        async { Ok(()) }.boxed()
    }
    fn delete(&self, u: &RedisUserPlan, _: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("delete redis {}", u.username));
        async { Ok(()) }.boxed()
    }
    fn release(&self, u: &RedisUserPlan, _: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        self.log(format!("release redis {}", u.username));
        async { Ok(()) }.boxed()
    }
}

impl ObjectUsers for Fake {
    fn ensure(&self, users: &[S3UserPlan]) -> BoxFuture<'_, ExtResult<bool>> {
        let supported = self.0.lock().unwrap().s3_users;
        for u in users.iter().filter(|_| supported) {
            self.log(format!(
                "ensure s3 user {} for {}",
                u.access_key,
                u.buckets.join(",")
            ));
        }
        async move { Ok(supported) }.boxed()
    }
    fn delete(&self, access_keys: &[String]) -> BoxFuture<'_, ExtResult<()>> {
        for k in access_keys {
            self.log(format!("delete s3 user {k}"));
        }
        async { Ok(()) }.boxed()
    }
}

impl Connector for Fake {
    fn connect(&self, _: &AdminAccess) -> crate::external::ExtResult<Systems> {
        Ok(Systems {
            databases: Box::new(self.clone()),
            topics: Box::new(self.clone()),
            buckets: Box::new(self.clone()),
            redis: Box::new(self.clone()),
            object_users: Box::new(self.clone()),
        })
    }
}

fn storefront(spec: Value) -> Storefront {
    let mut s = Storefront::new("shop", serde_json::from_value(spec).unwrap());
    s.metadata.namespace = Some("prod".into());
    s.metadata.uid = Some("uid-1".into());
    s.metadata.generation = Some(3);
    s.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-01-01T00:00:00Z".parse().unwrap(),
    ));
    s
}

fn finalized(mut s: Storefront) -> Storefront {
    s.metadata.finalizers = Some(vec![FINALIZER.into()]);
    s
}

fn deleting(mut s: Storefront) -> Storefront {
    s.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-06-01T00:00:00Z".parse().unwrap(),
    ));
    finalized(s)
}

fn context(client: kube::Client, fake: &Fake) -> Arc<Context> {
    Arc::new(Context::new(
        client,
        Arc::new(fake.clone()),
        Arc::new(Metrics::default()),
        Duration::from_secs(300),
    ))
}

fn condition<'a>(s: &'a StorefrontStatus, t: &str) -> &'a Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("no condition {t} in {s:?}"))
}

/// `spec` with every dependency External (endpoints and admin Secrets as the helpers below
/// store them), so cleanup acts on every system.
fn external(mut spec: Value) -> Value {
    let deps = json!({
        "postgres": {"mode": "External", "endpoint": "127.0.0.1:5432", "secretRef": "pg-admin"},
        "redis": {"mode": "External", "endpoint": "127.0.0.1:6379", "secretRef": "redis-admin"},
        "kafka": {"mode": "External", "endpoint": "127.0.0.1:9092", "partitions": 1},
        "objectStorage": {"mode": "External", "endpoint": "http://127.0.0.1:9000", "secretRef": "s3-admin"}
    });
    for (k, v) in deps.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Admin Secrets for [`external`] (the fake systems ignore the values).
fn admin_secrets(api: &ApiServer) {
    let mut o = api.objects.lock().unwrap();
    for (name, data) in [
        (
            "pg-admin",
            json!({"username": b64("postgres"), "password": b64("pw")}),
        ),
        (
            "redis-admin",
            json!({"username": b64("admin"), "password": b64("redis-admin-pw")}),
        ),
        (
            "s3-admin",
            json!({"accessKey": b64("ak"), "secretKey": b64("sk")}),
        ),
    ] {
        o.insert(
            format!("/api/v1/namespaces/prod/secrets/{name}"),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}),
        );
    }
}

/// Admin Secrets of the real local systems.
fn real_admin_secrets(api: &ApiServer) {
    let mut o = api.objects.lock().unwrap();
    o.insert(
        "/api/v1/namespaces/prod/secrets/pg-admin".into(),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pg-admin"},
               "data": {"username": b64("postgres"), "password": b64("")}}),
    );
    o.insert(
        "/api/v1/namespaces/prod/secrets/s3-admin".into(),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-admin"},
               "data": {"accessKey": b64("storefront"), "secretKey": b64("storefront-secret")}}),
    );
}

/// A mocked API server holding the admin Secrets of [`external`], fake systems, a context.
fn external_setup(sf: &Storefront) -> (ApiServer, Fake, Arc<Context>) {
    let (client, api) = ApiServer::start(sf, 1);
    admin_secrets(&api);
    let fake = Fake::default();
    let ctx = context(client, &fake);
    (api, fake, ctx)
}

/// The decoded data of a Secret the operator applied.
fn applied_secret(api: &ApiServer, name: &str) -> BTreeMap<String, String> {
    use base64::Engine as _;
    let o = api
        .object(&format!("/api/v1/namespaces/prod/secrets/{name}"))
        .unwrap_or_else(|| panic!("Secret {name} not applied"));
    o["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap();
            (k.clone(), String::from_utf8(bytes).unwrap())
        })
        .collect()
}

/// Reconciles `n` times as the controller would, each time with the status written last.
async fn reconcile_times(sf: &mut Storefront, api: &ApiServer, ctx: &Arc<Context>, n: usize) {
    for _ in 0..n {
        reconcile(Arc::new(sf.clone()), ctx.clone()).await.unwrap();
        if let Some(st) = api.status_patches().pop() {
            sf.status = Some(st);
        }
    }
}

/// Issue #17, 1: with an External Redis that has ACLs, the roles get the Storefront's ACL
/// user from the first apply on (never the admin account), and reconciling an unchanged
/// Storefront writes nothing at all.
#[tokio::test]
async fn an_unchanged_storefront_is_written_once_with_its_acl_user() {
    let mut sf = finalized(storefront(external(json!({}))));
    let (api, _fake, ctx) = external_setup(&sf);
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    // Every role Secret was applied exactly once, with the ACL user.
    for role in Role::ALL {
        let name = format!("shop-{}-env", role.name());
        let applies = api
            .seen()
            .iter()
            .filter(|s| s.is_apply() && s.path().ends_with(&format!("/secrets/{name}")))
            .count();
        assert_eq!(applies, 1, "{name}");
        let url = &applied_secret(&api, &name)["STOREFRONT_REDIS__URL"];
        assert!(
            url.starts_with("redis://storefront-prod-shop:"),
            "{name}: {url}"
        );
        assert!(
            !url.contains("redis-admin-pw"),
            "{name} got the admin password"
        );
    }
    assert_eq!(condition(&api.status(), "Ready").status, "True");
    assert_eq!(api.status().redis_acl, Some(true));
    let hashes = |api: &ApiServer| -> Vec<Value> {
        Role::ALL
            .iter()
            .map(|r| {
                api.object(&format!(
                    "/apis/apps/v1/namespaces/prod/deployments/shop-{}",
                    r.name()
                ))
                .unwrap()["spec"]["template"]["metadata"]["annotations"]
                    .clone()
            })
            .collect()
    };
    let before = hashes(&api);

    api.clear();
    reconcile_times(&mut sf, &api, &ctx, 3).await;
    assert_eq!(
        api.writes(),
        Vec::<String>::new(),
        "an unchanged Storefront writes nothing"
    );
    assert_eq!(hashes(&api), before, "the config hashes do not move");
    assert!(api.events().is_empty(), "{:?}", api.events());

    // A change is applied: one Deployment with more replicas, and the status that now waits
    // for them; nothing else.
    sf.spec.roles.cart.replicas = 3;
    api.clear();
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    assert_eq!(
        api.writes(),
        [
            "PATCH /apis/apps/v1/namespaces/prod/deployments/shop-cart",
            "PATCH /apis/storefront.io/v1alpha1/namespaces/prod/storefronts/shop/status"
        ]
    );
    assert!(
        condition(&api.status(), "WorkloadsReady")
            .message
            .contains("cart (1/3)")
    );
}

/// Where the Prometheus operator's CRDs exist, each Storefront gets a PodMonitor (once).
#[tokio::test]
async fn a_pod_monitor_is_created_where_the_prometheus_operator_runs() {
    let mut sf = finalized(storefront(json!({})));
    let (client, api) = ApiServer::start(&sf, 1);
    api.objects.lock().unwrap().insert(
        "/apis/monitoring.coreos.com/v1".into(),
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "monitoring.coreos.com/v1",
               "resources": [{"name": "podmonitors", "singularName": "podmonitor", "namespaced": true,
                              "kind": "PodMonitor", "verbs": ["get", "list", "create", "patch", "delete"]}]}),
    );
    let fake = Fake::default();
    let ctx = context(client, &fake);
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    let pm = api
        .object("/apis/monitoring.coreos.com/v1/namespaces/prod/podmonitors/shop")
        .expect("PodMonitor applied");
    assert_eq!(pm["kind"], "PodMonitor");
    assert_eq!(
        pm["spec"]["selector"]["matchLabels"][INSTANCE_LABEL],
        "shop"
    );
    assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["path"], "/metrics");
    assert_eq!(pm["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    api.clear();
    reconcile_times(&mut sf, &api, &ctx, 2).await;
    assert_eq!(api.writes(), Vec::<String>::new());
}

/// Where the store has per-role users, product and user hold keys for their own bucket only,
/// no other role holds any, and deletion removes the users.
#[tokio::test]
async fn roles_get_their_own_object_store_users_where_the_store_has_them() {
    let mut sf = finalized(storefront(external(json!({"prefix": "blue"}))));
    let (client, api) = ApiServer::start(&sf, 1);
    admin_secrets(&api);
    let fake = Fake::default();
    fake.0.lock().unwrap().s3_users = true;
    let ctx = context(client, &fake);
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    let product = applied_secret(&api, "shop-product-env");
    let user = applied_secret(&api, "shop-user-env");
    let pk = &product["STOREFRONT_S3__ACCESS_KEY"];
    assert!(
        pk.starts_with("sf-") && pk.ends_with("-p") && pk.len() <= 20,
        "{pk}"
    );
    assert_ne!(pk, "ak", "not the admin key");
    assert_ne!(product["STOREFRONT_S3__SECRET_KEY"], "sk");
    assert_ne!(&user["STOREFRONT_S3__ACCESS_KEY"], pk);
    for role in ["gateway", "order", "payment", "auth"] {
        assert!(
            !applied_secret(&api, &format!("shop-{role}-env"))
                .contains_key("STOREFRONT_S3__ACCESS_KEY")
        );
    }
    let calls = fake.calls();
    assert!(
        calls.contains(&format!("ensure s3 user {pk} for blue-product-images")),
        "{calls:?}"
    );
    let st = sf.status.clone().unwrap();
    assert_eq!(st.s3_users, Some(true));
    assert_eq!(st.provisioned.s3_users.len(), 2);
    // Steady.
    api.clear();
    reconcile_times(&mut sf, &api, &ctx, 2).await;
    assert_eq!(api.writes(), Vec::<String>::new());
    // Deletion (Retain) removes the users, which are credentials, not data.
    sf.metadata.deletion_timestamp = deleting(sf.clone()).metadata.deletion_timestamp;
    reconcile(Arc::new(sf.clone()), ctx.clone()).await.unwrap();
    assert!(fake.calls().contains(&format!("delete s3 user {pk}")));
    assert!(finalizer_removed(&api));
}

/// Before an External Redis has ever answered, the roles are left alone (no guessed
/// credentials); a Managed Redis is the operator's own Redis 7, so its roles start at once.
#[tokio::test]
async fn roles_wait_for_an_external_redis_but_not_for_a_managed_one() {
    let mut sf = finalized(storefront(external(json!({}))));
    let (api, fake, ctx) = external_setup(&sf);
    fake.0.lock().unwrap().redis_error = Some(ExtError::Transient("Redis: refused".into()));
    let action = reconcile(Arc::new(sf.clone()), ctx.clone()).await.unwrap();
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(5)),
        "retried soon"
    );
    assert!(
        !api.seen()
            .iter()
            .any(|s| s.is_apply() && s.path().contains("-env")),
        "no role Secret with guessed Redis credentials"
    );
    // Redis answers: the roles get the ACL user, once.
    fake.0.lock().unwrap().redis_error = None;
    sf.status = Some(api.status());
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    let url = &applied_secret(&api, "shop-cart-env")["STOREFRONT_REDIS__URL"];
    assert!(url.starts_with("redis://storefront-prod-shop:"), "{url}");

    let mut managed = finalized(storefront(json!({})));
    let (client, api) = ApiServer::start(&managed, 1);
    let fake = Fake::default();
    fake.0.lock().unwrap().redis_error = Some(ExtError::Transient("starting".into()));
    let ctx = context(client, &fake);
    reconcile_times(&mut managed, &api, &ctx, 1).await;
    let url = &applied_secret(&api, "shop-cart-env")["STOREFRONT_REDIS__URL"];
    assert!(url.starts_with("redis://storefront-prod-shop:"), "{url}");
}

/// A server without ACLs: the roles use the admin credentials, and that is stable too.
#[tokio::test]
async fn redis_without_acls_gives_the_admin_account_and_settles() {
    let mut sf = finalized(storefront(external(json!({}))));
    let (client, api) = ApiServer::start(&sf, 1);
    admin_secrets(&api);
    let fake = Fake::default();
    fake.0.lock().unwrap().redis_without_acl = true;
    let ctx = context(client, &fake);
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    let url = &applied_secret(&api, "shop-cart-env")["STOREFRONT_REDIS__URL"];
    assert_eq!(url, "redis://admin:redis-admin-pw@127.0.0.1:6379");
    assert_eq!(sf.status.as_ref().unwrap().redis_acl, Some(false));
    api.clear();
    reconcile_times(&mut sf, &api, &ctx, 2).await;
    assert_eq!(api.writes(), Vec::<String>::new());
}

/// Issue #17, 3: a Storefront that lost a conflict runs nothing and holds no credentials:
/// its role objects are pruned, its Redis user revoked, and a warning event says why.
#[tokio::test]
async fn a_storefront_in_conflict_gets_no_workloads_and_no_credentials() {
    let mut sf = finalized(storefront(external(json!({}))));
    let (api, fake, ctx) = external_setup(&sf);
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    assert!(
        api.object("/apis/apps/v1/namespaces/prod/deployments/shop-order")
            .is_some()
    );

    // An older Storefront claims order_db.
    fake.0.lock().unwrap().conflict_database = Some("order_db".into());
    sf.metadata.generation = Some(4); // a spec change, so provisioning runs again
    sf.spec.kafka.partitions = 2;
    api.clear();
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    for role in Role::ALL {
        for path in [
            format!(
                "/apis/apps/v1/namespaces/prod/deployments/shop-{}",
                role.name()
            ),
            format!("/api/v1/namespaces/prod/secrets/shop-{}-env", role.name()),
        ] {
            assert!(api.object(&path).is_none(), "{path} left while in conflict");
        }
    }
    assert!(
        !api.seen()
            .iter()
            .any(|s| s.is_apply() && s.path().contains("/deployments/")),
        "no workload applied while in conflict"
    );
    assert!(
        fake.calls()
            .contains(&"revoke redis storefront-prod-shop".to_string())
    );
    let st = api.status();
    assert_eq!(condition(&st, "ResourceConflict").status, "True");
    let w = condition(&st, "WorkloadsReady");
    assert_eq!(
        (w.status.as_str(), w.reason.as_str()),
        ("False", "ResourceConflict")
    );
    let events = api.events();
    assert!(
        events
            .iter()
            .any(|(t, r, n)| t == "Warning" && r == "ResourceConflict" && n.contains("order_db")),
        "{events:?}"
    );

    // Resolved: the workloads come back.
    fake.0.lock().unwrap().conflict_database = None;
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    assert!(
        api.object("/apis/apps/v1/namespaces/prod/deployments/shop-order")
            .is_some()
    );
    assert_eq!(condition(&api.status(), "ResourceConflict").status, "False");
}

/// Issue #17, 2: resources of a role disabled since are tracked and cleaned up on delete.
#[tokio::test]
async fn deletion_covers_roles_disabled_since() {
    let mut sf = finalized(storefront(external(json!({"deletionPolicy": "Delete"}))));
    let (api, fake, ctx) = external_setup(&sf);
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    // The order role is disabled: its database stays tracked.
    sf.spec.roles.order.enabled = false;
    sf.metadata.generation = Some(4);
    reconcile_times(&mut sf, &api, &ctx, 1).await;
    let tracked = &sf.status.as_ref().unwrap().provisioned;
    assert!(
        tracked.databases.iter().any(|d| d.name == "order_db"),
        "{tracked:?}"
    );
    let mut gone = sf.clone();
    gone.metadata.deletion_timestamp = deleting(sf.clone()).metadata.deletion_timestamp;
    reconcile(Arc::new(gone), ctx.clone()).await.unwrap();
    let calls = fake.calls();
    assert!(
        calls.contains(&"delete db order_db".to_string()),
        "{calls:?}"
    );
    assert!(finalizer_removed(&api));
}

/// Issue #17, 4: when cleanup cannot run (here the admin Secret is gone), deletion retries a
/// bounded number of times, then releases the finalizer with a warning naming what is left.
#[tokio::test]
async fn deletion_gives_up_after_the_configured_attempts() {
    let mut sf = deleting(storefront(external(json!({"deletionPolicy": "Delete"}))));
    let (client, api) = ApiServer::start(&sf, 1);
    let fake = Fake::default();
    let ctx = Arc::new(
        Context::new(
            client,
            Arc::new(fake.clone()),
            Arc::new(Metrics::default()),
            Duration::from_secs(300),
        )
        .with_cleanup_attempts(3),
    );
    for attempt in 1..=2 {
        let e = reconcile(Arc::new(sf.clone()), ctx.clone())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("pg-admin"), "{e}");
        assert!(!finalizer_removed(&api), "attempt {attempt}");
        sf.status = Some(api.status());
        assert_eq!(sf.status.as_ref().unwrap().cleanup_attempts, Some(attempt));
    }
    reconcile(Arc::new(sf.clone()), ctx.clone()).await.unwrap();
    assert!(
        finalizer_removed(&api),
        "the third failure releases the finalizer"
    );
    let events = api.events();
    let (_, _, note) = events
        .iter()
        .find(|(t, r, _)| t == "Warning" && r == "CleanupAbandoned")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(
        note.contains("auth_db") && note.contains("order-events"),
        "{note}"
    );
    assert!(fake.calls().is_empty());
}

/// A server that keeps timing out costs one timeout per system, not one per resource.
#[tokio::test]
async fn an_unreachable_server_is_tried_once_per_cleanup() {
    let sf = deleting(storefront(external(json!({"deletionPolicy": "Delete"}))));
    let (client, api) = ApiServer::start(&sf, 1);
    admin_secrets(&api);
    let fake = Fake::default();
    fake.0.lock().unwrap().database_error = Some(ExtError::Transient("timed out".into()));
    reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap_err();
    let calls = fake.calls();
    assert_eq!(
        calls.iter().filter(|c| c.contains(" db ")).count(),
        1,
        "{calls:?}"
    );
    // The other systems were still cleaned.
    assert!(calls.contains(&"delete bucket product-images".to_string()));
    let r = condition(&api.status(), "Ready").message.clone();
    assert_eq!(r.matches("timed out").count(), 1, "{r}");
}

/// Issue #17, 7: on a broker that cannot be trusted with DeleteTopics, topics are released
/// instead of deleted, and a warning says so.
#[tokio::test]
async fn topics_are_released_on_a_broker_that_deletes_too_much() {
    let sf = deleting(storefront(external(json!({"deletionPolicy": "Delete"}))));
    let (client, api) = ApiServer::start(&sf, 1);
    admin_secrets(&api);
    let fake = Fake::default();
    fake.0.lock().unwrap().topic_guard = Some("tansu deletes every topic".into());
    reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    let calls = fake.calls();
    assert!(
        !calls.iter().any(|c| c.starts_with("delete topic")),
        "{calls:?}"
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("release topic"))
            .count(),
        9
    );
    assert!(calls.contains(&"delete db auth_db".to_string()));
    assert!(
        api.events()
            .iter()
            .any(|(t, r, n)| t == "Warning" && r == "TopicsKept" && n.contains("tansu")),
        "{:?}",
        api.events()
    );
    assert!(finalizer_removed(&api));
}

/// Managed servers are deleted with the Storefront: cleanup does not wait for them.
#[tokio::test]
async fn managed_servers_need_no_external_cleanup() {
    let sf = deleting(storefront(json!({"deletionPolicy": "Delete"})));
    let (client, api) = ApiServer::start(&sf, 1);
    let fake = Fake::default();
    reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert!(finalizer_removed(&api));
}

#[tokio::test]
async fn finalizer_is_added_on_first_sight_and_nothing_else_happens() {
    let sf = storefront(json!({}));
    let (client, api) = ApiServer::start(&sf, 1);
    let fake = Fake::default();
    let action = reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    let seen = api.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(
        seen[0].path(),
        "/apis/storefront.io/v1alpha1/namespaces/prod/storefronts/shop"
    );
    assert_eq!(
        seen[0].body,
        json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
               {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
    );
    assert!(
        fake.calls().is_empty(),
        "no provisioning before the finalizer"
    );
}

#[tokio::test]
async fn children_are_applied_with_owner_references_and_one_field_manager() {
    let sf = finalized(storefront(json!({})));
    let (client, api) = ApiServer::start(&sf, 1);
    let fake = Fake::default();
    let action = reconcile(Arc::new(sf.clone()), context(client, &fake))
        .await
        .unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    let applies: Vec<Seen> = api.seen().into_iter().filter(Seen::is_apply).collect();
    let plan = desired::desired(&sf, &Inputs::default());
    // Every desired child, plus the generated Secret, the auth keys and the status.
    for child in &plan.children {
        let (kind, name) = child
            .id()
            .split_once('/')
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .unwrap();
        let hit = applies
            .iter()
            .find(|s| s.body["kind"] == kind && s.body["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind}/{name} not applied"));
        assert!(hit.uri.contains("force=true"), "{}", hit.uri);
        let owner = &hit.body["metadata"]["ownerReferences"][0];
        assert_eq!(owner["uid"], "uid-1", "{kind}/{name}");
        assert_eq!(owner["controller"], true);
    }
    assert!(
        applies
            .iter()
            .any(|s| s.path().ends_with("/secrets/shop-generated"))
    );
    assert!(
        applies
            .iter()
            .any(|s| s.path().ends_with("/secrets/shop-auth-keys"))
    );
    assert!(
        applies
            .iter()
            .all(|s| s.uri.contains("fieldManager=storefront-operator"))
    );
    // The external resources were provisioned.
    let calls = fake.calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("ensure db")).count(),
        9
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("ensure topic"))
            .count(),
        9
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("ensure bucket"))
            .count(),
        2
    );
    // Status: the tracked resources first, then everything ready.
    let patches = api.status_patches();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(patches[0].provisioned.databases.len(), 9);
    let st = &patches[1];
    assert_eq!(st.observed_generation, Some(3));
    assert_eq!(condition(st, "Ready").status, "True", "{st:?}");
    for t in [
        "DatabasesReady",
        "TopicsReady",
        "BucketsReady",
        "WorkloadsReady",
    ] {
        assert_eq!(condition(st, t).status, "True", "{t}");
    }
    assert_eq!(condition(st, "ResourceConflict").status, "False");
    assert_eq!(st.ready_replicas.len(), 12);
    assert_eq!(st.ready_replicas["gateway"], 1);
    assert_eq!(
        st.gateway_url.as_deref(),
        Some("http://shop-gateway.prod.svc.cluster.local:3000")
    );
    // Generated passwords reach the plan.
    let gen_secret =
        api.objects.lock().unwrap()["/api/v1/namespaces/prod/secrets/shop-generated"].clone();
    assert_eq!(
        gen_secret["data"].as_object().unwrap().len(),
        desired::generated_keys(&sf).len()
    );
}

#[tokio::test]
async fn status_is_written_only_when_it_changes_and_secrets_are_not_regenerated() {
    let mut sf = finalized(storefront(json!({})));
    let (client, api) = ApiServer::start(&sf, 1);
    let fake = Fake::default();
    let ctx = context(client, &fake);
    reconcile(Arc::new(sf.clone()), ctx.clone()).await.unwrap();
    let first = api.status();
    let generated =
        api.objects.lock().unwrap()["/api/v1/namespaces/prod/secrets/shop-generated"].clone();

    sf.status = Some(first);
    api.clear();
    reconcile(Arc::new(sf.clone()), ctx.clone()).await.unwrap();
    assert!(
        api.status_patches().is_empty(),
        "unchanged status must not be written"
    );
    // The generated Secret exists now: it is read, not rewritten.
    assert!(
        !api.seen()
            .iter()
            .any(|s| s.is_apply() && s.path().ends_with("/secrets/shop-generated"))
    );
    assert!(
        !api.seen()
            .iter()
            .any(|s| s.is_apply() && s.path().ends_with("/secrets/shop-auth-keys"))
    );
    assert_eq!(
        api.objects.lock().unwrap()["/api/v1/namespaces/prod/secrets/shop-generated"],
        generated
    );
}

#[tokio::test]
async fn workloads_not_ready_keep_ready_false() {
    let sf = finalized(storefront(json!({})));
    let (client, api) = ApiServer::start(&sf, 0);
    let fake = Fake::default();
    reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    let st = &api.status();
    let w = condition(st, "WorkloadsReady");
    assert_eq!(w.status, "False");
    assert_eq!(w.reason, "Progressing");
    assert!(w.message.contains("gateway (0/1)"), "{}", w.message);
    let r = condition(st, "Ready");
    assert_eq!(r.status, "False");
    assert_eq!(r.reason, "Progressing");
}

#[tokio::test]
async fn a_conflict_surfaces_as_a_condition() {
    let sf = finalized(storefront(json!({})));
    let (client, api) = ApiServer::start(&sf, 1);
    let fake = Fake::default();
    fake.0.lock().unwrap().conflict_database = Some("order_db".into());
    let action = reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    // Not retried quickly: waits for the periodic resync or a change.
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    let st = &api.status();
    let c = condition(st, "ResourceConflict");
    assert_eq!(c.status, "True");
    assert!(
        c.message.contains("order_db") && c.message.contains("other/older"),
        "{}",
        c.message
    );
    let d = condition(st, "DatabasesReady");
    assert_eq!(
        (d.status.as_str(), d.reason.as_str()),
        ("False", "ResourceConflict")
    );
    assert_eq!(condition(st, "Ready").status, "False");
}

#[tokio::test]
async fn transient_errors_requeue_with_backoff() {
    let sf = finalized(storefront(json!({})));
    let (client, api) = ApiServer::start(&sf, 1);
    let fake = Fake::default();
    fake.0.lock().unwrap().topic_error = Some(ExtError::Transient("broker down".into()));
    let ctx = context(client, &fake);
    let a1 = reconcile(Arc::new(sf.clone()), ctx.clone()).await.unwrap();
    let a2 = reconcile(Arc::new(sf), ctx).await.unwrap();
    assert_eq!(a1, Action::requeue(Duration::from_secs(5)));
    assert_eq!(a2, Action::requeue(Duration::from_secs(10)));
    let t = condition(&api.status(), "TopicsReady").clone();
    assert_eq!(
        (t.status.as_str(), t.reason.as_str()),
        ("False", "Unavailable")
    );
}

#[tokio::test]
async fn a_permanent_spec_error_is_a_condition_and_waits() {
    let sf = finalized(storefront(json!({
        "postgres": {"mode": "External", "endpoint": "db:5432", "secretRef": "missing-admin"}
    })));
    let (client, api) = ApiServer::start(&sf, 1);
    let fake = Fake::default();
    let action = reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    let st = &api.status();
    let r = condition(st, "Ready");
    assert_eq!(
        (r.status.as_str(), r.reason.as_str()),
        ("False", "InvalidSpec")
    );
    assert!(r.message.contains("prod/missing-admin"), "{}", r.message);
    assert!(fake.calls().is_empty());
}

fn finalizer_removed(api: &ApiServer) -> bool {
    api.seen().iter().any(|s| {
        s.method == "PATCH"
            && s.path().ends_with("/storefronts/shop")
            && s.body.to_string().contains("\"remove\"")
    })
}

#[tokio::test]
async fn deletion_with_retain_releases_claims_and_removes_the_finalizer() {
    let sf = deleting(storefront(external(json!({}))));
    let (client, api) = ApiServer::start(&sf, 1);
    admin_secrets(&api);
    let fake = Fake::default();
    reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    let calls = fake.calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("release")).count(),
        9 + 9 + 2 + 1
    );
    // Retain keeps the keys but not the Redis user.
    assert!(calls.contains(&"release redis storefront-prod-shop".to_string()));
    // No data is deleted; object-store users are credentials and go either way.
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("delete") && !c.starts_with("delete s3 user")),
        "{calls:?}"
    );
    assert!(finalizer_removed(&api));
}

#[tokio::test]
async fn deletion_with_delete_drops_everything_and_removes_the_finalizer() {
    let sf = deleting(storefront(external(json!({"deletionPolicy": "Delete"}))));
    let (client, api) = ApiServer::start(&sf, 1);
    admin_secrets(&api);
    let fake = Fake::default();
    reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    let calls = fake.calls();
    assert!(calls.contains(&"delete db auth_db".to_string()));
    assert!(calls.contains(&"delete topic order-events".to_string()));
    assert!(calls.contains(&"delete bucket product-images".to_string()));
    assert!(calls.contains(&"delete redis storefront-prod-shop".to_string()));
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("delete")).count(),
        9 + 9 + 2 + 1 + 2
    );
    assert!(finalizer_removed(&api));
}

#[tokio::test]
async fn a_failed_delete_keeps_the_finalizer_and_says_why() {
    let sf = deleting(storefront(external(json!({"deletionPolicy": "Delete"}))));
    let (client, api) = ApiServer::start(&sf, 1);
    admin_secrets(&api);
    let fake = Fake::default();
    fake.0.lock().unwrap().bucket_error = Some(ExtError::Permanent("AccessDenied".into()));
    let err = reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert!(!finalizer_removed(&api));
    let st = &api.status();
    let r = condition(st, "Ready");
    assert_eq!(r.reason, "CleanupFailed");
    assert!(r.message.contains("AccessDenied"));
    assert!(r.message.contains("attempt 1 of 5"), "{}", r.message);
    assert_eq!(st.cleanup_attempts, Some(1));
}

#[tokio::test]
async fn objects_no_longer_wanted_are_pruned_but_not_foreign_ones() {
    let sf = finalized(storefront(json!({})));
    let (client, api) = ApiServer::start(&sf, 1);
    let owned = |name: &str, uid: &str| {
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
               "metadata": {"name": name, "namespace": "prod",
                   "labels": {INSTANCE_LABEL: "shop"},
                   "ownerReferences": [{"apiVersion": "storefront.io/v1alpha1", "kind": "Storefront",
                       "name": "shop", "uid": uid, "controller": true}]}})
    };
    // An HPA from when autoscaling was on, and one some other owner made with our label.
    api.objects.lock().unwrap().insert(
        "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers".into(),
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {},
               "items": [owned("shop-product", "uid-1"), owned("shop-foreign", "uid-other")]}),
    );
    let fake = Fake::default();
    reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    let deletes: Vec<String> = api
        .seen()
        .into_iter()
        .filter(|s| s.method == "DELETE")
        .map(|s| s.path().to_string())
        .collect();
    assert_eq!(
        deletes,
        ["/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/shop-product"]
    );
}

#[tokio::test]
async fn raising_rotation_appends_a_signing_key() {
    let sf = finalized(storefront(json!({"auth": {"rotation": 1}})));
    let (client, api) = ApiServer::start(&sf, 1);
    let old_key = crate::secrets::new_ed25519_pem();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&old_key);
    api.objects.lock().unwrap().insert(
        "/api/v1/namespaces/prod/secrets/shop-auth-keys".into(),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "shop-auth-keys", "namespace": "prod",
                            "annotations": {"storefront.io/rotation": "0"}},
               "data": {"keys.pem": b64}}),
    );
    let fake = Fake::default();
    reconcile(Arc::new(sf), context(client, &fake))
        .await
        .unwrap();
    let applied = api
        .seen()
        .into_iter()
        .find(|s| s.is_apply() && s.path().ends_with("/secrets/shop-auth-keys"))
        .expect("keys rewritten");
    assert_eq!(
        applied.body["metadata"]["annotations"]["storefront.io/rotation"],
        "1"
    );
    let pem = base64::engine::general_purpose::STANDARD
        .decode(applied.body["data"]["keys.pem"].as_str().unwrap())
        .unwrap();
    let blocks = crate::secrets::pem_blocks(&String::from_utf8(pem).unwrap());
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        blocks[0], old_key,
        "the old key stays for verification; the new one signs"
    );
}

/// Reconciles until `done` holds for the written status (at most 60 s).
async fn reconcile_until(
    sf: &Storefront,
    api: &ApiServer,
    ctx: &Arc<Context>,
    done: impl Fn(&StorefrontStatus) -> bool,
) -> StorefrontStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sf = sf.clone();
    loop {
        reconcile(Arc::new(sf.clone()), ctx.clone()).await.unwrap();
        if let Some(st) = api.status_patches().pop() {
            sf.status = Some(st);
        }
        let st = sf.status.clone().expect("a status");
        if done(&st) || Instant::now() > deadline {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The executor end to end against the real local PostgreSQL, Redis, Kafka-protocol broker and
/// S3 store (External dependencies whose admin Secrets the mocked API server holds): every
/// resource is provisioned and the status says so; a second Storefront claiming the same
/// prefix gets `ResourceConflict`.
#[tokio::test]
async fn real_systems_are_provisioned_through_the_executor() {
    use crate::external::RealConnector;
    let prefix = crate::external::testing::unique("sfe").to_ascii_lowercase();
    let spec = json!({
        "prefix": prefix,
        "postgres": {"mode": "External", "endpoint": "127.0.0.1:5432", "secretRef": "pg-admin"},
        "redis": {"mode": "External", "endpoint": "127.0.0.1:6379"},
        "kafka": {"mode": "External", "endpoint": "127.0.0.1:9092", "partitions": 1},
        "objectStorage": {"mode": "External", "endpoint": "http://127.0.0.1:9000", "secretRef": "s3-admin"}
    });
    let sf = finalized(storefront(spec.clone()));
    let (client, api) = ApiServer::start(&sf, 1);
    real_admin_secrets(&api);
    let ctx = Arc::new(Context::new(
        client,
        Arc::new(RealConnector),
        Arc::new(Metrics::default()),
        Duration::from_secs(300),
    ));
    // The shared dev servers may be busy (e.g. PostgreSQL out of connections while other
    // suites run): transient errors are retried, as the controller would, within a deadline.
    let st = reconcile_until(&sf, &api, &ctx, |st| {
        condition(st, "Ready").status == "True"
    })
    .await;
    for t in ["Ready", "DatabasesReady", "TopicsReady", "BucketsReady"] {
        assert_eq!(
            condition(&st, t).status,
            "True",
            "{t}: {:?}",
            condition(&st, t)
        );
    }

    // A younger Storefront elsewhere pointed at the same names loses.
    let mut rival = finalized(storefront(spec));
    rival.metadata.name = Some("rival".into());
    rival.metadata.uid = Some("uid-rival".into());
    rival.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-05-01T00:00:00Z".parse().unwrap(),
    ));
    let (client2, api2) = ApiServer::start(&rival, 1);
    real_admin_secrets(&api2);
    let ctx2 = Arc::new(Context::new(
        client2,
        Arc::new(RealConnector),
        Arc::new(Metrics::default()),
        Duration::from_secs(300),
    ));
    let st2 = reconcile_until(&rival, &api2, &ctx2, |st| {
        ["DatabasesReady", "TopicsReady", "BucketsReady"]
            .iter()
            .all(|t| condition(st, t).reason == "ResourceConflict")
    })
    .await;
    let c = condition(&st2, "ResourceConflict");
    assert_eq!(c.status, "True");
    assert!(c.message.contains("prod/shop"), "{}", c.message);
    assert_eq!(condition(&st2, "DatabasesReady").reason, "ResourceConflict");
    let bc = condition(&st2, "BucketsReady");
    assert_eq!(bc.reason, "ResourceConflict", "{bc:?}");

    // Clean up (topics are released, not deleted: see the Kafka tests).
    let plan = desired::desired(&sf, &Inputs::default());
    let claim = claim_of(&sf);
    let pg =
        crate::external::postgres::Postgres::new("postgres://postgres@127.0.0.1:5432/postgres")
            .unwrap();
    for db in &plan.databases {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(e) = pg.delete(db, &claim).await {
            assert!(
                Instant::now() < deadline,
                "cleaning up {}: {e}",
                db.database
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let s3 = crate::external::s3::S3::new(
        "http://127.0.0.1:9000",
        "storefront",
        "storefront-secret",
        "us-east-1",
    );
    for b in &plan.buckets {
        s3.delete(b, &claim).await.unwrap();
    }
    let kafka = crate::external::kafka::Kafka::new("127.0.0.1:9092").unwrap();
    for t in &plan.topics {
        kafka.release(t, &claim).await.unwrap();
    }
    let redis = crate::external::redis::Redis::new("redis://127.0.0.1:6379").unwrap();
    redis.delete(&plan.redis_user, &claim).await.unwrap();
    let rival_user = RedisUserPlan {
        username: "storefront-prod-rival".into(),
        ..plan.redis_user.clone()
    };
    redis.delete(&rival_user, &claim_of(&rival)).await.unwrap();
}
