//! Leader election on a `coordination.k8s.io/v1` Lease, so two operator replicas are safe: only
//! the holder reconciles. The holder renews every `ttl / 3`; a candidate takes the Lease when
//! its `renewTime + leaseDurationSeconds` has passed. Writes use `replace` with the read
//! `resourceVersion`, so two candidates racing for an expired Lease cannot both win (the loser
//! gets 409 Conflict).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub holder: String,
    pub ttl: Duration,
}

/// What one election round found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    Leading,
    Following,
}

/// Whether a Lease is free for `holder` at `now` (pure, for tests).
pub fn can_take(spec: Option<&LeaseSpec>, holder: &str, now: Timestamp) -> bool {
    let Some(spec) = spec else { return true };
    match spec.holder_identity.as_deref() {
        None | Some("") => true,
        Some(h) if h == holder => true,
        Some(_) => {
            let ttl = spec.lease_duration_seconds.unwrap_or(15) as i64;
            match &spec.renew_time {
                None => true,
                Some(MicroTime(t)) => *t + SignedDuration::from_secs(ttl) < now,
            }
        }
    }
}

/// One round: acquire or renew. Kubernetes errors other than a lost race are returned.
pub async fn try_acquire_or_renew(api: &Api<Lease>, cfg: &LeaseConfig) -> kube::Result<Round> {
    let now = Timestamp::now();
    let fresh = |transitions: i32, acquire: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(cfg.holder.clone()),
        lease_duration_seconds: Some(cfg.ttl.as_secs() as i32),
        acquire_time: acquire.or(Some(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..Default::default()
    };
    match api.get_opt(&cfg.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(fresh(0, None)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Round::Leading),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(Round::Following),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            if !can_take(lease.spec.as_ref(), &cfg.holder, now) {
                return Ok(Round::Following);
            }
            let old = lease.spec.clone().unwrap_or_default();
            let ours = old.holder_identity.as_deref() == Some(cfg.holder.as_str());
            let transitions = old.lease_transitions.unwrap_or(0) + if ours { 0 } else { 1 };
            lease.spec = Some(fresh(
                transitions,
                if ours { old.acquire_time } else { None },
            ));
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(Round::Leading),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(Round::Following),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits until this replica leads, then keeps renewing in the background. The returned future
/// completes when leadership is lost (the caller then stops reconciling and exits).
pub async fn acquire(
    client: kube::Client,
    cfg: LeaseConfig,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let period = cfg.ttl / 3;
    loop {
        match try_acquire_or_renew(&api, &cfg).await {
            Ok(Round::Leading) => break,
            Ok(Round::Following) => {
                tracing::debug!(lease = %cfg.name, "another replica leads; waiting")
            }
            Err(e) => tracing::warn!(error = %e, "leader election round failed"),
        }
        tokio::time::sleep(period).await;
    }
    tracing::info!(lease = %cfg.name, holder = %cfg.holder, "leading");
    Ok(async move {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(period).await;
            match try_acquire_or_renew(&api, &cfg).await {
                Ok(Round::Leading) => last_ok = tokio::time::Instant::now(),
                Ok(Round::Following) => {
                    tracing::error!("leadership lost to another replica");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "renewing the lease failed");
                    if last_ok.elapsed() >= cfg.ttl {
                        tracing::error!("could not renew the lease in time; stepping down");
                        return;
                    }
                }
            }
        }
    })
}

/// Gives the Lease up when this replica holds it (holder cleared, duration 1 s), so another
/// replica takes over at once instead of waiting for the Lease to expire. Returns whether it
/// was ours.
pub async fn release(api: &Api<Lease>, cfg: &LeaseConfig) -> kube::Result<bool> {
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        return Ok(false);
    };
    let mut spec = lease.spec.clone().unwrap_or_default();
    if spec.holder_identity.as_deref() != Some(cfg.holder.as_str()) {
        return Ok(false);
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    lease.spec = Some(spec);
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        // Someone else changed it meanwhile: it is not ours to release any more.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_free_when_unheld_ours_or_expired() {
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        assert!(can_take(None, "a", now));
        let held = |by: &str, renewed: &str| LeaseSpec {
            holder_identity: Some(by.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(renewed.parse().unwrap())),
            ..Default::default()
        };
        assert!(can_take(Some(&held("a", "2026-01-01T00:00:59Z")), "a", now));
        assert!(!can_take(
            Some(&held("b", "2026-01-01T00:00:59Z")),
            "a",
            now
        ));
        assert!(can_take(Some(&held("b", "2026-01-01T00:00:30Z")), "a", now));
    }
}

#[cfg(test)]
mod mock_tests {
    //! One election round against a mocked API server.
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;

    fn held_by(holder: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("storefront-operator-leader".into()),
                namespace: Some("ops".into()),
                resource_version: Some("7".into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(Timestamp::now())),
                ..Default::default()
            }),
        }
    }

    /// On shutdown the holder clears the Lease, so a standby takes over at once.
    #[tokio::test]
    async fn shutting_down_releases_a_held_lease_and_leaves_a_foreign_one() {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api: Api<Lease> = Api::namespaced(kube::Client::new(svc, "ops"), "ops");
        let server = tokio::spawn(async move {
            let (req, send) = handle.next_request().await.unwrap();
            assert_eq!(req.method(), http::Method::GET);
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&held_by("pod-a")).unwrap()))
                    .unwrap(),
            );
            let (req, send) = handle.next_request().await.unwrap();
            assert_eq!(req.method(), http::Method::PUT);
            let body = req.into_body().collect_bytes().await.unwrap();
            let lease: Lease = serde_json::from_slice(&body).unwrap();
            send.send_response(Response::builder().body(Body::from(body.to_vec())).unwrap());
            // The second call finds another holder and writes nothing.
            let (req, send) = handle.next_request().await.unwrap();
            assert_eq!(req.method(), http::Method::GET);
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&held_by("pod-b")).unwrap()))
                    .unwrap(),
            );
            lease
        });
        assert!(release(&api, &cfg()).await.unwrap());
        assert!(!release(&api, &cfg()).await.unwrap());
        let released = server.await.unwrap();
        let spec = released.spec.unwrap();
        assert_eq!(spec.holder_identity, None);
        assert_eq!(spec.lease_duration_seconds, Some(1));
        assert_eq!(released.metadata.resource_version.as_deref(), Some("7"));
        // A released Lease is free for anyone at once.
        assert!(can_take(
            Some(&LeaseSpec {
                holder_identity: None,
                ..Default::default()
            }),
            "pod-b",
            Timestamp::now()
        ));
    }

    fn cfg() -> LeaseConfig {
        LeaseConfig {
            namespace: "ops".into(),
            name: "storefront-operator-leader".into(),
            holder: "pod-a".into(),
            ttl: Duration::from_secs(15),
        }
    }

    #[tokio::test]
    async fn a_missing_lease_is_created_and_a_fresh_foreign_one_is_respected() {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api: Api<Lease> = Api::namespaced(kube::Client::new(svc, "ops"), "ops");
        let server = tokio::spawn(async move {
            // Round 1: GET 404, then POST.
            let (req, send) = handle.next_request().await.unwrap();
            assert_eq!(req.method(), http::Method::GET);
            send.send_response(
                Response::builder()
                    .status(404)
                    .body(Body::from(
                        br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#.to_vec(),
                    ))
                    .unwrap(),
            );
            let (req, send) = handle.next_request().await.unwrap();
            assert_eq!(req.method(), http::Method::POST);
            let body = req.into_body().collect_bytes().await.unwrap();
            let lease: Lease = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                lease.spec.as_ref().unwrap().holder_identity.as_deref(),
                Some("pod-a")
            );
            send.send_response(Response::builder().body(Body::from(body.to_vec())).unwrap());
            // Round 2: someone else renewed just now.
            let (_, send) = handle.next_request().await.unwrap();
            let other = Lease {
                metadata: ObjectMeta {
                    name: Some("storefront-operator-leader".into()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some("pod-b".into()),
                    lease_duration_seconds: Some(15),
                    renew_time: Some(MicroTime(Timestamp::now())),
                    ..Default::default()
                }),
            };
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&other).unwrap()))
                    .unwrap(),
            );
        });
        assert_eq!(
            try_acquire_or_renew(&api, &cfg()).await.unwrap(),
            Round::Leading
        );
        assert_eq!(
            try_acquire_or_renew(&api, &cfg()).await.unwrap(),
            Round::Following
        );
        server.await.unwrap();
    }
}
