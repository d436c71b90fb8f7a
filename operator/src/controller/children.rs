//! The Kubernetes children of a Storefront: server-side apply with the field manager, the
//! live children by label, deletion.

#[allow(unused_imports)]
use super::*;

pub(super) async fn apply_object<K>(client: &kube::Client, ns: &str, obj: &K) -> Result<String>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = obj.meta().name.clone().unwrap_or_default();
    let out = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await?;
    Ok(version_of(out.meta()))
}

pub(super) async fn apply_child(client: &kube::Client, ns: &str, child: &Child) -> Result<String> {
    match child {
        Child::ConfigMap(o) => apply_object(client, ns, o).await,
        Child::Secret(o) => apply_object(client, ns, o).await,
        Child::ServiceAccount(o) => apply_object(client, ns, o).await,
        Child::Service(o) => apply_object(client, ns, o).await,
        Child::Deployment(o) => apply_object(client, ns, o).await,
        Child::StatefulSet(o) => apply_object(client, ns, o).await,
        Child::PodDisruptionBudget(o) => apply_object(client, ns, o).await,
        Child::HorizontalPodAutoscaler(o) => apply_object(client, ns, o).await,
        Child::Ingress(o) => apply_object(client, ns, o).await,
    }
}

/// What the operator needs to know of a live child.
#[derive(Clone, Debug)]
pub(super) struct Live {
    pub(super) digest: Option<String>,
    pub(super) version: String,
    pub(super) owned: bool,
}

/// The children of `sf` that exist now, by `Kind/name` (metadata-only lists).
pub(super) async fn live_children(
    ctx: &Context,
    sf: &Storefront,
) -> Result<BTreeMap<String, Live>> {
    let n = Names::of(sf);
    let (c, ns) = (&ctx.client, n.namespace.as_str());
    let mut live = BTreeMap::new();
    list_live::<ConfigMap>(c, ns, sf, &mut live).await?;
    list_live::<Secret>(c, ns, sf, &mut live).await?;
    list_live::<ServiceAccount>(c, ns, sf, &mut live).await?;
    list_live::<Service>(c, ns, sf, &mut live).await?;
    list_live::<Deployment>(c, ns, sf, &mut live).await?;
    list_live::<StatefulSet>(c, ns, sf, &mut live).await?;
    list_live::<PodDisruptionBudget>(c, ns, sf, &mut live).await?;
    list_live::<HorizontalPodAutoscaler>(c, ns, sf, &mut live).await?;
    list_live::<Ingress>(c, ns, sf, &mut live).await?;
    Ok(live)
}

pub(super) async fn list_live<K>(
    client: &kube::Client,
    ns: &str,
    sf: &Storefront,
    out: &mut BTreeMap<String, Live>,
) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("{INSTANCE_LABEL}={}", sf.name_any()));
    let uid = sf.uid().unwrap_or_default();
    for obj in api.list_metadata(&lp).await? {
        out.insert(
            format!("{}/{}", K::kind(&()), obj.name_any()),
            Live {
                digest: obj.annotations().get(DIGEST_ANNOTATION).cloned(),
                version: version_of(&obj.metadata),
                owned: obj.owner_references().iter().any(|o| o.uid == uid),
            },
        );
    }
    Ok(())
}

/// Deletes the object `Kind/name` (missing is success).
pub(super) async fn delete_child(client: &kube::Client, ns: &str, id: &str) -> Result<()> {
    let (kind, name) = id.split_once('/').unwrap_or((id, ""));
    let c = client;
    let r = match kind {
        "ConfigMap" => delete_kind::<ConfigMap>(c, ns, name).await,
        "Secret" => delete_kind::<Secret>(c, ns, name).await,
        "ServiceAccount" => delete_kind::<ServiceAccount>(c, ns, name).await,
        "Service" => delete_kind::<Service>(c, ns, name).await,
        "Deployment" => delete_kind::<Deployment>(c, ns, name).await,
        "StatefulSet" => delete_kind::<StatefulSet>(c, ns, name).await,
        "PodDisruptionBudget" => delete_kind::<PodDisruptionBudget>(c, ns, name).await,
        "HorizontalPodAutoscaler" => delete_kind::<HorizontalPodAutoscaler>(c, ns, name).await,
        "Ingress" => delete_kind::<Ingress>(c, ns, name).await,
        _ => Ok(()),
    };
    match r {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn delete_kind<K>(client: &kube::Client, ns: &str, name: &str) -> kube::Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + DeserializeOwned
        + Clone
        + Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .delete(name, &DeleteParams::background())
        .await
        .map(|_| ())
}
