//! `storefront-operator run`: connect to the cluster, elect a leader, and run the controller
//! with label-narrowed, metadata-only watches of the children.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Controller;
use kube::runtime::watcher;

use crate::controller::{Context, error_policy, reconcile};
use crate::crd::Storefront;
use crate::desired::MANAGER;
use crate::external::RealConnector;
use crate::leader::{self, LeaseConfig};
use crate::metrics::{self, Metrics};

/// Settings of `storefront-operator run`.
#[derive(Clone, Debug)]
pub struct Options {
    pub leader_election: bool,
    pub lease_namespace: String,
    pub lease_name: String,
    pub holder: String,
    pub metrics_addr: SocketAddr,
    pub resync: Duration,
    /// Failed cleanup attempts after which deletion gives up (see `Context`).
    pub cleanup_attempts: u32,
}

/// Selects the TLS crypto provider of the Kubernetes client. Both `ring` and `aws-lc-rs` end
/// up in the dependency graph (kube, the AWS SDK), so rustls cannot pick one by itself.
pub fn install_crypto_provider() {
    // Err means one is installed already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client for the configured cluster, with a message a person can act on when there is none.
pub async fn connect() -> anyhow::Result<Client> {
    install_crypto_provider();
    let client = Client::try_default().await.map_err(|e| {
        anyhow::anyhow!(
            "no Kubernetes cluster configured: could not load a kubeconfig (KUBECONFIG or \
             ~/.kube/config) or the in-cluster service account ({e})"
        )
    })?;
    check(&client).await?;
    Ok(client)
}

/// Checks that the API server answers and the CRD is installed.
pub async fn check(client: &Client) -> anyhow::Result<()> {
    let version = client.apiserver_version().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the Kubernetes API server of the current kubeconfig context: {e}"
        )
    })?;
    tracing::info!(version = %version.git_version, "connected to the Kubernetes API server");
    let sfs: Api<Storefront> = Api::all(client.clone());
    sfs.list(&ListParams::default().limit(1))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the Storefront CRD is not usable ({e}); install it with \
             `kubectl apply -f crds/storefront.yaml` (or the Helm chart)"
            )
        })?;
    Ok(())
}

/// SIGTERM (what Kubernetes sends a pod) and SIGINT (Ctrl-C), installed at once so a signal
/// that arrives before anyone waits is not lost (nor fatal).
pub struct ShutdownSignal {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    pub fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Completes on the first SIGTERM or SIGINT; returns its name.
    pub async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Runs until SIGTERM / SIGINT or until leadership is lost. On a signal the controller drains
/// its running reconciles and the Lease is released, so a standby replica leads at once.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let signal = ShutdownSignal::install()?;
    let client = connect().await?;
    let metrics = Arc::new(Metrics::default());
    let server = tokio::spawn(metrics::serve(opts.metrics_addr, metrics.clone()));

    let lost: futures::future::BoxFuture<'static, ()> = if opts.leader_election {
        let lost = leader::acquire(
            client.clone(),
            LeaseConfig {
                namespace: opts.lease_namespace.clone(),
                name: opts.lease_name.clone(),
                holder: opts.holder.clone(),
                ttl: Duration::from_secs(15),
            },
        )
        .await?;
        Box::pin(lost)
    } else {
        Box::pin(futures::future::pending())
    };
    metrics
        .leading
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let lost = futures::FutureExt::shared(lost);

    let ctx = Arc::new(
        Context::new(
            client.clone(),
            Arc::new(RealConnector),
            metrics.clone(),
            opts.resync,
        )
        .with_cleanup_attempts(opts.cleanup_attempts),
    );
    // Children: only what this operator made, metadata only (`owns` watches metadata).
    let children =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
    let lost_for_controller = lost.clone();
    let controller = Controller::new(
        Api::<Storefront>::all(client.clone()),
        watcher::Config::default().any_semantic(),
    )
    .owns(Api::<Deployment>::all(client.clone()), children.clone())
    .owns(Api::<StatefulSet>::all(client.clone()), children.clone())
    .owns(Api::<Service>::all(client.clone()), children.clone())
    .owns(Api::<ConfigMap>::all(client.clone()), children.clone())
    .owns(Api::<Secret>::all(client.clone()), children.clone())
    .owns(Api::<Ingress>::all(client.clone()), children)
    .graceful_shutdown_on(async move {
        tokio::select! {
            name = signal.wait() => tracing::info!(signal = name, "shutting down"),
            _ = lost_for_controller => tracing::error!("leadership lost; stopping"),
        }
    })
    .run(reconcile, error_policy, ctx)
    .for_each(|res| async move {
        match res {
            Ok((obj, _)) => tracing::debug!(storefront = %obj.name, "reconciled"),
            Err(e) => tracing::debug!(error = %e, "reconcile error"),
        }
    });
    tokio::select! {
        _ = controller => {}
        r = server => r.context("metrics server task")??,
    }
    if futures::FutureExt::now_or_never(lost).is_some() {
        anyhow::bail!("leadership lost; exiting so a fresh replica can take part in the election");
    }
    if opts.leader_election {
        let api = Api::namespaced(client.clone(), &opts.lease_namespace);
        let cfg = LeaseConfig {
            namespace: opts.lease_namespace.clone(),
            name: opts.lease_name.clone(),
            holder: opts.holder.clone(),
            ttl: Duration::from_secs(15),
        };
        match leader::release(&api, &cfg).await {
            Ok(true) => tracing::info!(lease = %cfg.name, "released the lease"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not release the lease; it expires by itself")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kubernetes stops a pod with SIGTERM; Ctrl-C is SIGINT. Both end the wait (nextest runs
    /// each test in its own process, so signalling ourselves is safe once installed).
    #[tokio::test]
    async fn sigterm_and_sigint_both_shut_down() {
        for (sig, name) in [("-TERM", "SIGTERM"), ("-INT", "SIGINT")] {
            let s = ShutdownSignal::install().unwrap();
            let status = std::process::Command::new("kill")
                .args([sig, &std::process::id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let got = tokio::time::timeout(Duration::from_secs(10), s.wait())
                .await
                .expect("the signal ends the wait");
            assert_eq!(got, name);
        }
    }

    #[tokio::test]
    async fn an_unreachable_api_server_gives_a_clear_message() {
        install_crypto_provider();
        let cfg = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = Client::try_from(cfg).unwrap();
        let e = check(&client).await.unwrap_err().to_string();
        assert!(e.contains("cannot reach the Kubernetes API server"), "{e}");
    }

    /// Against the cluster of the current kubeconfig with the CRD installed (the kind workflow).
    #[tokio::test]
    #[ignore = "needs a Kubernetes cluster"]
    async fn connects_to_the_cluster_and_finds_the_crd() {
        let client = connect().await.unwrap();
        check(&client).await.unwrap();
    }

    /// The operator of the kind workflow made the example Storefront ready: every child is
    /// owned by it and applied by our field manager, and the status names the gateway.
    #[tokio::test]
    #[ignore = "needs a Kubernetes cluster"]
    async fn example_storefront_is_reconciled_in_the_cluster() {
        use kube::ResourceExt;
        let client = connect().await.unwrap();
        let sf = Api::<Storefront>::namespaced(client.clone(), "shop")
            .get("shop")
            .await
            .unwrap();
        let status = sf.status.clone().expect("status written");
        assert_eq!(status.observed_generation, sf.metadata.generation);
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True", "{ready:?}");
        assert!(
            sf.finalizers()
                .iter()
                .any(|f| f == crate::controller::FINALIZER)
        );
        let deps = Api::<Deployment>::namespaced(client, "shop")
            .list(&ListParams::default().labels("app.kubernetes.io/instance=shop"))
            .await
            .unwrap();
        assert!(deps.items.len() >= 12);
        for d in deps {
            assert_eq!(d.owner_references()[0].uid, sf.uid().unwrap());
            assert!(
                d.managed_fields()
                    .iter()
                    .any(|m| m.manager.as_deref() == Some(MANAGER))
            );
        }
    }
}
