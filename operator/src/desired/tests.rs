//! The desired-state step: every spec field that changes an object, and the defaults.

use super::*;
use crate::crd::StorefrontSpec;

fn sf(spec: serde_json::Value) -> Storefront {
    let spec: StorefrontSpec = serde_json::from_value(spec).expect("valid spec");
    let mut s = Storefront::new("shop", spec);
    s.metadata.namespace = Some("prod".into());
    s.metadata.uid = Some("uid-1".into());
    s
}

fn inputs(s: &Storefront) -> Inputs {
    Inputs {
        generated: generated_keys(s)
            .into_iter()
            .map(|k| {
                let v = format!("pw{}", k.replace('-', ""));
                (k, v)
            })
            .collect(),
        redis_auth: Some(("ruser".into(), "rpass".into())),
        s3: S3Access {
            access_key: "ak".into(),
            secret_key: "sk".into(),
            region: "eu-west-1".into(),
        },
        s3_role_users: false,
    }
}

fn plan(spec: serde_json::Value) -> Desired {
    let s = sf(spec);
    desired(&s, &inputs(&s))
}

fn ids(d: &Desired) -> Vec<String> {
    d.children.iter().map(Child::id).collect()
}

fn deployment<'a>(d: &'a Desired, role: &str) -> &'a Deployment {
    d.children
        .iter()
        .find_map(|c| match c {
            Child::Deployment(x) if x.metadata.name.as_deref() == Some(&format!("shop-{role}")) => {
                Some(x)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no deployment for {role}"))
}

fn container<'a>(d: &'a Desired, role: &str) -> &'a Container {
    &deployment(d, role)
        .spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
}

fn config_map<'a>(d: &'a Desired, name: &str) -> &'a BTreeMap<String, String> {
    d.children
        .iter()
        .find_map(|c| match c {
            Child::ConfigMap(x) if x.metadata.name.as_deref() == Some(name) => x.data.as_ref(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no config map {name}"))
}

fn secret_data(d: &Desired, name: &str) -> BTreeMap<String, String> {
    d.children
        .iter()
        .find_map(|c| match c {
            Child::Secret(x) if x.metadata.name.as_deref() == Some(name) => x.data.as_ref(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no secret {name}"))
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8(v.0.clone()).unwrap()))
        .collect()
}

fn service<'a>(d: &'a Desired, name: &str) -> &'a Service {
    d.children
        .iter()
        .find_map(|c| match c {
            Child::Service(x) if x.metadata.name.as_deref() == Some(name) => Some(x),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no service {name}"))
}

fn statefulset<'a>(d: &'a Desired, what: &str) -> Option<&'a StatefulSet> {
    d.children.iter().find_map(|c| match c {
        Child::StatefulSet(x) if x.metadata.name.as_deref() == Some(&format!("shop-{what}")) => {
            Some(x)
        }
        _ => None,
    })
}

fn ingress(d: &Desired) -> Option<&Ingress> {
    d.children.iter().find_map(|c| match c {
        Child::Ingress(x) => Some(x),
        _ => None,
    })
}

fn meta_of(c: &Child) -> &ObjectMeta {
    match c {
        Child::ConfigMap(o) => &o.metadata,
        Child::Secret(o) => &o.metadata,
        Child::ServiceAccount(o) => &o.metadata,
        Child::Service(o) => &o.metadata,
        Child::Deployment(o) => &o.metadata,
        Child::StatefulSet(o) => &o.metadata,
        Child::PodDisruptionBudget(o) => &o.metadata,
        Child::HorizontalPodAutoscaler(o) => &o.metadata,
        Child::Ingress(o) => &o.metadata,
    }
}

#[test]
fn defaults_run_every_role_with_managed_dependencies() {
    let d = plan(serde_json::json!({}));
    let ids = ids(&d);
    for role in Role::ALL {
        for kind in [
            "Deployment",
            "Service",
            "ServiceAccount",
            "ConfigMap",
            "PodDisruptionBudget",
        ] {
            let id = format!("{kind}/shop-{}", role.name());
            assert!(ids.contains(&id), "missing {id}");
        }
        assert!(ids.contains(&format!("Secret/shop-{}-env", role.name())));
        assert_eq!(
            deployment(&d, role.name()).spec.replicas,
            Some(1),
            "{role:?}"
        );
    }
    assert!(
        !ids.iter()
            .any(|i| i.starts_with("HorizontalPodAutoscaler/"))
    );
    assert!(ids.contains(&"Ingress/shop-gateway".to_string()));
    assert!(ids.contains(&"ConfigMap/shop-config".to_string()));
    for m in ["postgres", "redis", "kafka", "minio"] {
        assert!(statefulset(&d, m).is_some(), "managed {m}");
        assert!(ids.contains(&format!("Service/shop-{m}")));
        // The managed servers are the dependencies applied before provisioning.
        assert!(d.dependency_ids.contains(&format!("Service/shop-{m}")));
        assert!(d.dependency_ids.contains(&format!("StatefulSet/shop-{m}")));
    }
    assert_eq!(d.dependency_ids.len(), 8);
    assert_eq!(d.roles.len(), 12);
    assert_eq!(
        d.databases
            .iter()
            .map(|x| x.database.as_str())
            .collect::<Vec<_>>(),
        [
            "auth_db",
            "user_db",
            "product_db",
            "inventory_db",
            "cart_db",
            "order_db",
            "payment_db",
            "event_db",
            "notification_db"
        ]
    );
    assert_eq!(d.databases[0].owner, "auth_svc");
    assert_eq!(d.databases[0].password, "pwdbauthpassword");
    assert_eq!(d.topics.len(), 9);
    assert_eq!(d.topics[0].name, "user-events");
    assert_eq!(d.topics[0].partitions, 3);
    assert_eq!(d.topics[0].retention_ms, 604_800_000);
    assert_eq!(d.buckets, ["product-images", "user-avatars"]);
    assert_eq!(d.redis_user.username, "storefront-prod-shop");
    assert_eq!(d.redis_user.key_pattern, "*");
    assert_eq!(
        d.gateway_url,
        "http://shop-gateway.prod.svc.cluster.local:3000"
    );
}

#[test]
fn every_child_is_owned_labelled_and_namespaced() {
    let d = plan(serde_json::json!({}));
    for c in &d.children {
        let m = meta_of(c);
        assert_eq!(m.namespace.as_deref(), Some("prod"), "{}", c.id());
        let owner = &m.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.uid, "uid-1");
        assert_eq!(owner.kind, "Storefront");
        assert_eq!(owner.controller, Some(true));
        let labels = m.labels.as_ref().unwrap();
        assert_eq!(labels[INSTANCE_LABEL], "shop");
        assert_eq!(labels["app.kubernetes.io/managed-by"], MANAGER);
    }
}

#[test]
fn deployments_are_hardened_probed_and_configured() {
    let d = plan(serde_json::json!({}));
    let dep = deployment(&d, "product");
    let spec = &dep.spec;
    let ru = spec.strategy.as_ref().unwrap();
    assert_eq!(ru.type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(
        ru.rolling_update.as_ref().unwrap().max_unavailable,
        Some(IntOrString::Int(0))
    );
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("shop-product"));
    let c = container(&d, "product");
    assert_eq!(c.image.as_deref(), Some("storefront:latest"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(c.args.as_deref(), Some(&["product".to_string()][..]));
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 3003);
    let path = |p: &Option<Probe>| {
        p.as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap()
    };
    assert_eq!(path(&c.liveness_probe), "/healthz");
    assert_eq!(path(&c.readiness_probe), "/readyz");
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let req = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert_eq!(req["cpu"].0, "50m");
    assert_eq!(req["memory"].0, "64Mi");
    let from: Vec<String> = c
        .env_from
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| {
            e.config_map_ref
                .as_ref()
                .map(|r| format!("cm:{}", r.name))
                .or_else(|| e.secret_ref.as_ref().map(|r| format!("secret:{}", r.name)))
                .unwrap()
        })
        .collect();
    assert_eq!(
        from,
        [
            "cm:shop-config",
            "cm:shop-product",
            "secret:shop-product-env"
        ]
    );
    assert_eq!(
        config_map(&d, "shop-product")["STOREFRONT_PRODUCT__LISTEN"],
        "0.0.0.0:3003"
    );
}

#[test]
fn grpc_roles_get_headless_services() {
    let d = plan(serde_json::json!({}));
    for role in Role::ALL {
        let s = service(&d, &format!("shop-{}", role.name()));
        let spec = s.spec.as_ref().unwrap();
        assert_eq!(
            spec.cluster_ip.as_deref() == Some("None"),
            role.is_grpc(),
            "{role:?}"
        );
        assert_eq!(spec.ports.as_ref().unwrap()[0].port, i32::from(role.port()));
    }
}

#[test]
fn image_settings_reach_every_container() {
    let d = plan(serde_json::json!({"image": {
        "repository": "ghcr.io/acme/storefront", "tag": "1.2.3",
        "pullPolicy": "Always", "pullSecrets": ["regcred"]
    }}));
    for role in Role::ALL {
        let c = container(&d, role.name());
        assert_eq!(c.image.as_deref(), Some("ghcr.io/acme/storefront:1.2.3"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        let pod = deployment(&d, role.name())
            .spec
            .template
            .spec
            .as_ref()
            .unwrap();
        assert_eq!(pod.image_pull_secrets.as_ref().unwrap()[0].name, "regcred");
    }
}

#[test]
fn role_replicas_resources_env_and_enabled() {
    let d = plan(serde_json::json!({"roles": {
        "gateway": {"replicas": 3, "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}},
                    "env": [{"name": "STOREFRONT_GATEWAY__RATE_LIMIT__ENABLED", "value": "false"}]},
        "recommender": {"enabled": false},
        "cart": {"enabled": false}
    }}));
    assert_eq!(deployment(&d, "gateway").spec.replicas, Some(3));
    let c = container(&d, "gateway");
    let res = c.resources.as_ref().unwrap();
    assert_eq!(res.requests.as_ref().unwrap()["cpu"].0, "1");
    assert_eq!(res.limits.as_ref().unwrap()["memory"].0, "1Gi");
    assert_eq!(
        c.env.as_ref().unwrap()[0].name,
        "STOREFRONT_GATEWAY__RATE_LIMIT__ENABLED"
    );
    let ids = ids(&d);
    assert!(!ids.iter().any(|i| i.contains("shop-recommender")));
    assert!(!ids.iter().any(|i| i.contains("shop-cart")));
    assert!(!d.databases.iter().any(|x| x.database == "cart_db"));
    assert_eq!(d.roles.len(), 10);
}

#[test]
fn autoscaling_adds_an_hpa_and_leaves_replicas_to_it() {
    let d = plan(serde_json::json!({"roles": {"product": {"autoscaling": {
        "minReplicas": 2, "maxReplicas": 8, "targetCpuUtilizationPercentage": 60
    }}}}));
    assert_eq!(deployment(&d, "product").spec.replicas, None);
    let hpa = d
        .children
        .iter()
        .find_map(|c| match c {
            Child::HorizontalPodAutoscaler(h) => Some(h),
            _ => None,
        })
        .expect("an HPA");
    let spec = &hpa.spec;
    assert_eq!(spec.scale_target_ref.name, "shop-product");
    assert_eq!(spec.min_replicas, Some(2));
    assert_eq!(spec.max_replicas, 8);
    let m = &spec.metrics.as_ref().unwrap()[0];
    assert_eq!(
        m.resource.as_ref().unwrap().target.average_utilization,
        Some(60)
    );
}

#[test]
fn prefix_names_databases_topics_buckets_and_keys_like_kit_does() {
    let d = plan(serde_json::json!({"prefix": "blue-shop"}));
    assert_eq!(d.databases[0].database, "blue_shop_auth_db");
    assert_eq!(d.databases[0].owner, "blue_shop_auth_svc");
    let kit_name = storefront_kit::db::database_name(
        &storefront_kit::config::PostgresSettings {
            database_prefix: "blue_shop_".into(),
            ..Default::default()
        },
        "auth",
    );
    assert_eq!(d.databases[0].database, kit_name);
    assert_eq!(d.topics[0].name, "blue-shop-user-events");
    assert_eq!(d.buckets[0], "blue-shop-product-images");
    assert_eq!(d.redis_user.key_pattern, "blue-shop:*");
    let cfg = config_map(&d, "shop-config");
    assert_eq!(cfg["STOREFRONT_POSTGRES__DATABASE_PREFIX"], "blue_shop_");
    assert_eq!(cfg["STOREFRONT_KAFKA__TOPIC_PREFIX"], "blue-shop-");
    assert_eq!(cfg["STOREFRONT_S3__BUCKET_PREFIX"], "blue-shop-");
    assert_eq!(cfg["STOREFRONT_REDIS__KEY_PREFIX"], "blue-shop:");
}

#[test]
fn managed_dependencies_are_wired_into_the_roles() {
    let d = plan(serde_json::json!({}));
    let cfg = config_map(&d, "shop-config");
    assert_eq!(
        cfg["STOREFRONT_KAFKA__BROKERS"],
        "shop-kafka.prod.svc.cluster.local:9092"
    );
    assert_eq!(
        cfg["STOREFRONT_S3__ENDPOINT"],
        "http://shop-minio.prod.svc.cluster.local:9000"
    );
    let sec = secret_data(&d, "shop-auth-env");
    assert_eq!(
        sec["STOREFRONT_POSTGRES__URL"],
        "postgres://auth_svc:pwdbauthpassword@shop-postgres.prod.svc.cluster.local:5432/auth_db"
    );
    assert_eq!(
        sec["STOREFRONT_REDIS__URL"],
        "redis://ruser:rpass@shop-redis.prod.svc.cluster.local:6379"
    );
    // Only the roles that store objects get the object store's keys.
    assert!(!sec.contains_key("STOREFRONT_S3__ACCESS_KEY"), "{sec:?}");
    assert!(!sec.contains_key("STOREFRONT_S3__SECRET_KEY"));
    for role in ["product", "user"] {
        let s3 = secret_data(&d, &format!("shop-{role}-env"));
        assert_eq!(s3["STOREFRONT_S3__ACCESS_KEY"], "ak");
        assert_eq!(s3["STOREFRONT_S3__SECRET_KEY"], "sk");
        assert_eq!(s3["STOREFRONT_S3__REGION"], "eu-west-1");
    }
    for role in ["gateway", "order", "payment", "cart", "event"] {
        let other = secret_data(&d, &format!("shop-{role}-env"));
        assert!(!other.contains_key("STOREFRONT_S3__SECRET_KEY"), "{role}");
    }
    // With per-role users each of them gets its own keys, limited to its own bucket.
    let s = sf(serde_json::json!({}));
    let own = desired(
        &s,
        &Inputs {
            s3_role_users: true,
            ..inputs(&s)
        },
    );
    let product = secret_data(&own, "shop-product-env");
    assert_eq!(
        product["STOREFRONT_S3__ACCESS_KEY"],
        s3_access_key("prod", "shop", Role::Product)
    );
    assert_eq!(product["STOREFRONT_S3__SECRET_KEY"], "pws3productsecretkey");
    assert_eq!(own.s3_users.len(), 2);
    assert_eq!(own.s3_users[1].buckets, ["product-images"]);
    assert_eq!(own.s3_users[0].buckets, ["user-avatars"]);
    assert_eq!(
        secret_data(&d, "shop-payment-env")["STOREFRONT_PAYMENT__ENCRYPTION_KEY"],
        "pwpaymentencryptionkey"
    );
    assert!(!sec.contains_key("STOREFRONT_PAYMENT__ENCRYPTION_KEY"));
    // Roles without a database get no PostgreSQL URL.
    assert!(!secret_data(&d, "shop-gateway-env").contains_key("STOREFRONT_POSTGRES__URL"));
    let pg = statefulset(&d, "postgres").unwrap();
    let pc = &pg.spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(pc.image.as_deref(), Some("postgres:17-alpine"));
    let env = pc.env.as_ref().unwrap();
    let pw = env.iter().find(|e| e.name == "POSTGRES_PASSWORD").unwrap();
    let sel = pw
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(sel.name, "shop-generated");
    assert_eq!(sel.key, "postgres-admin-password");
}

#[test]
fn external_dependencies_replace_the_managed_servers() {
    let spec = serde_json::json!({
        "postgres": {"mode": "External", "endpoint": "db.example:5432", "secretRef": "pg-admin"},
        "redis": {"mode": "External", "endpoint": "cache.example:6379"},
        "kafka": {"mode": "External", "endpoint": "k1:9092,k2:9092"},
        "objectStorage": {"mode": "External", "endpoint": "https://s3.example", "secretRef": "s3-admin"}
    });
    let s = sf(spec.clone());
    let d = plan(spec);
    for m in ["postgres", "redis", "kafka", "minio"] {
        assert!(statefulset(&d, m).is_none(), "{m} should not be managed");
    }
    let keys = generated_keys(&s);
    assert!(!keys.contains(&"postgres-admin-password".to_string()));
    assert!(!keys.contains(&"s3-access-key".to_string()));
    let cfg = config_map(&d, "shop-config");
    assert_eq!(cfg["STOREFRONT_KAFKA__BROKERS"], "k1:9092,k2:9092");
    assert_eq!(cfg["STOREFRONT_S3__ENDPOINT"], "https://s3.example");
    let sec = secret_data(&d, "shop-order-env");
    assert!(sec["STOREFRONT_POSTGRES__URL"].contains("@db.example:5432/order_db"));
    assert_eq!(
        sec["STOREFRONT_REDIS__URL"],
        "redis://ruser:rpass@cache.example:6379"
    );
}

#[test]
fn redis_without_credentials_has_a_bare_url() {
    let s = sf(serde_json::json!({}));
    let mut i = inputs(&s);
    i.redis_auth = None;
    let d = desired(&s, &i);
    assert_eq!(
        secret_data(&d, "shop-cart-env")["STOREFRONT_REDIS__URL"],
        "redis://shop-redis.prod.svc.cluster.local:6379"
    );
}

#[test]
fn kafka_topic_settings_reach_every_topic() {
    let d = plan(serde_json::json!({"kafka": {
        "partitions": 12, "replicationFactor": 3, "retentionMs": -1
    }}));
    assert!(
        d.topics
            .iter()
            .all(|t| t.partitions == 12 && t.replication_factor == 3 && t.retention_ms == -1)
    );
}

#[test]
fn managed_storage_image_and_deletion_policy_shape_the_statefulsets() {
    let d = plan(serde_json::json!({
        "postgres": {"storage": "20Gi", "image": "postgres:16"},
        "deletionPolicy": "Delete"
    }));
    let pg = statefulset(&d, "postgres").unwrap();
    let spec = &pg.spec;
    let pvc = &spec.volume_claim_templates.as_ref().unwrap()[0];
    let size = &pvc
        .spec
        .as_ref()
        .unwrap()
        .resources
        .as_ref()
        .unwrap()
        .requests
        .as_ref()
        .unwrap()["storage"];
    assert_eq!(size.0, "20Gi");
    assert_eq!(
        spec.template.spec.as_ref().unwrap().containers[0]
            .image
            .as_deref(),
        Some("postgres:16")
    );
    let policy = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .unwrap();
    assert_eq!(policy.when_deleted.as_deref(), Some("Delete"));
    let retain = plan(serde_json::json!({}));
    let p = statefulset(&retain, "redis").unwrap();
    assert_eq!(
        p.spec
            .persistent_volume_claim_retention_policy
            .as_ref()
            .unwrap()
            .when_deleted
            .as_deref(),
        Some("Retain")
    );
}

#[test]
fn ingress_host_class_and_tls() {
    let d = plan(serde_json::json!({"ingress": {
        "host": "shop.example.com", "className": "nginx", "tlsSecretName": "shop-tls"
    }}));
    let ing = ingress(&d).unwrap();
    let spec = ing.spec.as_ref().unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let rule = &spec.rules.as_ref().unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("shop.example.com"));
    let backend = rule.http.as_ref().unwrap().paths[0]
        .backend
        .service
        .as_ref()
        .unwrap();
    assert_eq!(backend.name, "shop-gateway");
    assert_eq!(backend.port.as_ref().unwrap().number, Some(3000));
    let tls = &spec.tls.as_ref().unwrap()[0];
    assert_eq!(tls.secret_name.as_deref(), Some("shop-tls"));
    assert_eq!(d.gateway_url, "https://shop.example.com");
    // Catalog image URLs name the gateway's media route at the public address.
    assert_eq!(
        config_map(&d, "shop-product")["STOREFRONT_PRODUCT__IMAGE_URL_BASE"],
        "https://shop.example.com/api/v1/media"
    );

    let plain = plan(serde_json::json!({"ingress": {"host": "shop.local"}}));
    assert_eq!(plain.gateway_url, "http://shop.local");
    assert!(
        ingress(&plain)
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .tls
            .is_none()
    );

    let off = plan(serde_json::json!({"ingress": {"enabled": false}}));
    assert!(ingress(&off).is_none());
}

#[test]
fn auth_issuer_keys_and_own_secret() {
    let d = plan(serde_json::json!({"auth": {"issuer": "acme"}}));
    assert_eq!(
        config_map(&d, "shop-config")["STOREFRONT_AUTH__ISSUER"],
        "acme"
    );
    let auth = config_map(&d, "shop-auth");
    assert_eq!(
        auth["STOREFRONT_AUTH__KEYS__FILE"],
        "/etc/storefront/auth-keys/keys.pem"
    );
    assert_eq!(auth["STOREFRONT_AUTH__KEYS__GENERATE"], "false");
    let vol_secret = |d: &Desired| {
        deployment(d, "auth")
            .spec
            .template
            .spec
            .as_ref()
            .unwrap()
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == "auth-keys")
            .unwrap()
            .secret
            .as_ref()
            .unwrap()
            .secret_name
            .clone()
            .unwrap()
    };
    assert_eq!(vol_secret(&d), "shop-auth-keys");
    let own = plan(serde_json::json!({"auth": {"secretRef": "my-keys"}}));
    assert_eq!(vol_secret(&own), "my-keys");
    // Other roles do not mount the keys.
    let gw = deployment(&d, "gateway")
        .spec
        .template
        .spec
        .as_ref()
        .unwrap();
    assert!(
        !gw.volumes
            .as_ref()
            .unwrap()
            .iter()
            .any(|v| v.name == "auth-keys")
    );
}

#[test]
fn smtp_settings_reach_the_notification_role() {
    let d = plan(serde_json::json!({"smtp": {
        "host": "mail.example", "port": 2525, "from": "shop@example.com",
        "secretRef": "smtp-cred"
    }}));
    let cfg = config_map(&d, "shop-notification");
    assert_eq!(cfg["STOREFRONT_NOTIFICATION__SMTP__HOST"], "mail.example");
    assert_eq!(cfg["STOREFRONT_NOTIFICATION__SMTP__PORT"], "2525");
    assert_eq!(cfg["STOREFRONT_NOTIFICATION__FROM"], "shop@example.com");
    let default = plan(serde_json::json!({}));
    let dcfg = config_map(&default, "shop-notification");
    assert!(!dcfg.contains_key("STOREFRONT_NOTIFICATION__SMTP__HOST"));
    assert!(!dcfg.contains_key("STOREFRONT_NOTIFICATION__FROM"));
    let env = container(&d, "notification").env.clone().unwrap();
    let pw = env
        .iter()
        .find(|e| e.name == "STOREFRONT_NOTIFICATION__SMTP__PASSWORD")
        .unwrap();
    assert_eq!(
        pw.value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap()
            .name,
        "smtp-cred"
    );
}

#[test]
fn gateway_upstreams_point_at_the_in_cluster_services() {
    let d = plan(serde_json::json!({}));
    let gw = config_map(&d, "shop-gateway");
    assert_eq!(
        gw["STOREFRONT_GATEWAY__UPSTREAMS__AUTH"],
        "http://shop-auth.prod.svc.cluster.local:3001"
    );
    assert_eq!(
        gw["STOREFRONT_GATEWAY__UPSTREAMS__EVENT"],
        "http://shop-event.prod.svc.cluster.local:3009"
    );
    assert_eq!(gw["STOREFRONT_GATEWAY__LISTEN"], "0.0.0.0:3000");
}

#[test]
fn services_call_each_other_at_the_in_cluster_addresses() {
    let d = plan(serde_json::json!({}));
    let order = config_map(&d, "shop-order");
    assert_eq!(
        order["STOREFRONT_ORDER__CART_URL"],
        "http://shop-cart.prod.svc.cluster.local:3005"
    );
    assert_eq!(
        order["STOREFRONT_ORDER__PRODUCT_URL"],
        "http://shop-product.prod.svc.cluster.local:3003"
    );
    let cart = config_map(&d, "shop-cart");
    assert_eq!(
        cart["STOREFRONT_CART__UPSTREAMS__ORDER"],
        "http://shop-order.prod.svc.cluster.local:3006"
    );
    assert_eq!(
        cart["STOREFRONT_CART__UPSTREAMS__INVENTORY"],
        "http://shop-inventory.prod.svc.cluster.local:3004"
    );
    assert_eq!(
        config_map(&d, "shop-recommendation")["STOREFRONT_RECOMMENDATION__PRODUCT_URL"],
        "http://shop-product.prod.svc.cluster.local:3003"
    );
}

#[test]
fn pods_restart_when_their_configuration_changes() {
    let s = sf(serde_json::json!({}));
    let hash = |i: &Inputs, role: &str| {
        desired(&s, i)
            .children
            .iter()
            .find_map(|c| match c {
                Child::Deployment(x) if x.metadata.name.as_deref() == Some(role) => x
                    .spec
                    .template
                    .metadata
                    .as_ref()
                    .unwrap()
                    .annotations
                    .as_ref()
                    .unwrap()
                    .get("storefront.io/config-hash")
                    .cloned(),
                _ => None,
            })
            .unwrap()
    };
    let a = inputs(&s);
    let mut b = a.clone();
    b.generated
        .insert("db-auth-password".into(), "rotated".into());
    assert_ne!(hash(&a, "shop-auth"), hash(&b, "shop-auth"));
    assert_eq!(hash(&a, "shop-product"), hash(&b, "shop-product"));
    assert_eq!(
        hash(&a, "shop-auth"),
        hash(&a, "shop-auth"),
        "deterministic"
    );
}

#[test]
fn the_gateway_serves_the_web_shop_unless_it_is_switched_off() {
    let d = plan(serde_json::json!({}));
    assert_eq!(
        config_map(&d, "shop-gateway")["STOREFRONT_GATEWAY__WEB_DIR"],
        "/usr/share/storefront/web"
    );
    let off = plan(serde_json::json!({"web": {"enabled": false}}));
    assert!(!config_map(&off, "shop-gateway").contains_key("STOREFRONT_GATEWAY__WEB_DIR"));
    // The Ingress sends every path to the gateway: the shop at `/`, the API at `/api/v1`.
    let ids: Vec<String> = d.children.iter().map(Child::id).collect();
    assert!(ids.contains(&"Ingress/shop-gateway".to_string()));
}
