//! The secrets a Storefront needs: generated credentials, the auth signing keys (rotated on
//! request), the external systems' admin access read from referenced secrets.

#[allow(unused_imports)]
use super::*;

pub(super) fn secret(
    name: &str,
    sf: &Storefront,
    data: &BTreeMap<String, String>,
    annotations: Option<BTreeMap<String, String>>,
) -> Secret {
    let n = Names::of(sf);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(n.namespace.clone()),
            labels: Some(BTreeMap::from([
                (INSTANCE_LABEL.to_string(), n.name.clone()),
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    MANAGER.to_string(),
                ),
            ])),
            annotations,
            owner_references: sf.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        data: Some(encode(data)),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// The generated Secret's data, creating missing values once.
pub(super) async fn generated_secret(
    ctx: &Context,
    sf: &Storefront,
) -> Result<BTreeMap<String, String>> {
    let n = Names::of(sf);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &n.namespace);
    let existing = decode(
        api.get_opt(&n.generated_secret())
            .await?
            .as_ref()
            .and_then(|s| s.data.as_ref()),
    );
    match secrets::fill_missing(&existing, &desired::generated_keys(sf)) {
        None => Ok(existing),
        Some(data) => {
            apply_object(
                &ctx.client,
                &n.namespace,
                &secret(&n.generated_secret(), sf, &data, None),
            )
            .await?;
            Ok(data)
        }
    }
}

pub(super) const ROTATION_ANNOTATION: &str = "storefront.io/rotation";

/// The auth signing keys Secret: generated when absent, a key appended when `rotation` rises.
pub(super) async fn auth_keys(ctx: &Context, sf: &Storefront) -> Result<()> {
    if sf.spec.auth.secret_ref.is_some() {
        return Ok(());
    }
    let n = Names::of(sf);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &n.namespace);
    let current = api.get_opt(&n.auth_keys_secret()).await?;
    let want = sf.spec.auth.rotation.to_string();
    let (pem, rotation) = match &current {
        Some(s) => (
            decode(s.data.as_ref())
                .remove(desired::AUTH_KEYS_FILE)
                .unwrap_or_default(),
            s.annotations().get(ROTATION_ANNOTATION).cloned(),
        ),
        None => (String::new(), None),
    };
    if !pem.is_empty() && rotation.as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    let keys = secrets::rotate(&pem, sf.spec.auth.retained_keys.max(1) as usize);
    tracing::info!(rotation = %want, "writing auth signing keys");
    let data = BTreeMap::from([(desired::AUTH_KEYS_FILE.to_string(), keys)]);
    let ann = BTreeMap::from([(ROTATION_ANNOTATION.to_string(), want)]);
    apply_object(
        &ctx.client,
        &n.namespace,
        &secret(&n.auth_keys_secret(), sf, &data, Some(ann)),
    )
    .await
    .map(|_| ())
}

/// Percent-encodes a URL userinfo part.
pub(super) fn userinfo(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A problem with the spec or its referenced Secrets: waits for a change.
#[derive(Debug)]
pub(super) struct SpecProblem(pub(super) String);

pub(super) async fn external_secret(
    ctx: &Context,
    ns: &str,
    name: &str,
    keys: &[&str],
    what: &str,
) -> Result<Result<BTreeMap<String, String>, SpecProblem>> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let Some(s) = api.get_opt(name).await? else {
        return Ok(Err(SpecProblem(format!(
            "{what}: Secret {ns}/{name} does not exist"
        ))));
    };
    let data = decode(s.data.as_ref());
    if let Some(k) = keys.iter().find(|k| !data.contains_key(**k)) {
        return Ok(Err(SpecProblem(format!(
            "{what}: Secret {ns}/{name} has no key `{k}`"
        ))));
    }
    Ok(Ok(data))
}

/// How the operator reaches each system as administrator, and the S3 credentials of the roles.
pub(super) async fn admin_access(
    ctx: &Context,
    sf: &Storefront,
    generated: &BTreeMap<String, String>,
) -> Result<Result<(AdminAccess, Option<(String, String)>), SpecProblem>> {
    let n = Names::of(sf);
    let ep = desired::endpoints(sf);
    let g = |k: &str| generated.get(k).cloned().unwrap_or_default();
    let s = &sf.spec;
    let postgres_url = match (s.postgres.mode, &s.postgres.secret_ref) {
        (DependencyMode::Managed, _) => format!(
            "postgres://postgres:{}@{}/postgres",
            g("postgres-admin-password"),
            ep.postgres
        ),
        (DependencyMode::External, Some(secret)) => {
            match external_secret(
                ctx,
                &n.namespace,
                secret,
                &["username", "password"],
                "postgres.secretRef",
            )
            .await?
            {
                Ok(d) => format!(
                    "postgres://{}:{}@{}/postgres",
                    userinfo(&d["username"]),
                    userinfo(&d["password"]),
                    ep.postgres
                ),
                Err(p) => return Ok(Err(p)),
            }
        }
        (DependencyMode::External, None) => {
            return Ok(Err(SpecProblem(
                "postgres: External needs secretRef".into(),
            )));
        }
    };
    let redis_admin: Option<(String, String)> = match (s.redis.mode, &s.redis.secret_ref) {
        (DependencyMode::Managed, _) => Some(("default".into(), g("redis-admin-password"))),
        (DependencyMode::External, Some(secret)) => {
            match external_secret(ctx, &n.namespace, secret, &["password"], "redis.secretRef")
                .await?
            {
                Ok(d) => Some((
                    d.get("username")
                        .cloned()
                        .unwrap_or_else(|| "default".into()),
                    d["password"].clone(),
                )),
                Err(p) => return Ok(Err(p)),
            }
        }
        (DependencyMode::External, None) => None,
    };
    let redis_url = match &redis_admin {
        Some((u, p)) => format!("redis://{}:{}@{}", userinfo(u), userinfo(p), ep.redis),
        None => format!("redis://{}", ep.redis),
    };
    let (s3_access_key, s3_secret_key, s3_region) =
        match (s.object_storage.mode, &s.object_storage.secret_ref) {
            (DependencyMode::Managed, _) => (
                g("s3-access-key"),
                g("s3-secret-key"),
                "us-east-1".to_string(),
            ),
            (DependencyMode::External, Some(secret)) => {
                match external_secret(
                    ctx,
                    &n.namespace,
                    secret,
                    &["accessKey", "secretKey"],
                    "objectStorage.secretRef",
                )
                .await?
                {
                    Ok(d) => (
                        d["accessKey"].clone(),
                        d["secretKey"].clone(),
                        d.get("region")
                            .cloned()
                            .unwrap_or_else(|| "us-east-1".into()),
                    ),
                    Err(p) => return Ok(Err(p)),
                }
            }
            (DependencyMode::External, None) => {
                return Ok(Err(SpecProblem(
                    "objectStorage: External needs secretRef".into(),
                )));
            }
        };
    Ok(Ok((
        AdminAccess {
            postgres_url,
            redis_url,
            kafka_brokers: ep.kafka,
            s3_endpoint: ep.s3,
            s3_access_key,
            s3_secret_key,
            s3_region,
        },
        redis_admin,
    )))
}

pub(super) async fn generated_secret_read(
    ctx: &Context,
    sf: &Storefront,
) -> Result<BTreeMap<String, String>> {
    let n = Names::of(sf);
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &n.namespace);
    Ok(decode(
        api.get_opt(&n.generated_secret())
            .await?
            .as_ref()
            .and_then(|s| s.data.as_ref()),
    ))
}
