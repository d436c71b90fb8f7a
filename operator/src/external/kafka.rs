//! Kafka topics through the admin API (rdkafka): create with partitions, replication and
//! `retention.ms`; adopt existing ones; raise partitions and correct retention on drift.
//! Claims are records keyed by topic name in the compacted topic `__storefront_claims`.
//!
//! Brokers that do not implement an admin call (tansu, the dev broker, answers some with an
//! error) are handled explicitly: DescribeConfigs/AlterConfigs failures leave retention
//! unverified (logged, not fatal); CreatePartitions failures leave the partition count as it
//! is (logged); a DeleteTopics failure is an error that keeps the finalizer. On tansu 0.6,
//! CreatePartitions and AlterConfigs answer UnsupportedFeature, and DeleteTopics of one topic
//! also removed unrelated topics (see operator/README.md).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::{Claim, ClaimDecision, Ensured, ExtError, ExtResult, Topics};
use crate::desired::TopicPlan;

/// The compacted topic that holds the claims.
pub const CLAIMS_TOPIC: &str = "__storefront_claims";

const TIMEOUT: Duration = Duration::from_secs(10);

/// The real [`Topics`].
pub struct Kafka {
    config: ClientConfig,
    /// Claims read once per instance (one reconcile), kept current by our own writes.
    claims: tokio::sync::Mutex<Option<BTreeMap<String, Claim>>>,
}

impl Kafka {
    pub fn new(brokers: &str) -> ExtResult<Self> {
        if brokers.trim().is_empty() {
            return Err(ExtError::Permanent(
                "Kafka bootstrap servers are empty".into(),
            ));
        }
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", "storefront-operator")
            .set("socket.timeout.ms", "10000");
        Ok(Self {
            config,
            claims: tokio::sync::Mutex::new(None),
        })
    }

    fn admin(&self) -> ExtResult<AdminClient<DefaultClientContext>> {
        self.config
            .create()
            .map_err(|e| ExtError::Permanent(format!("Kafka admin client: {e}")))
    }

    fn opts() -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(TIMEOUT))
            .request_timeout(Some(TIMEOUT))
    }

    /// Partition count of `topic`, `None` when it does not exist.
    async fn partitions(&self, topic: &str) -> ExtResult<Option<i32>> {
        let cfg = self.config.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let c: BaseConsumer = cfg
                .create()
                .map_err(|e| ExtError::Permanent(format!("Kafka client: {e}")))?;
            let md = c
                .fetch_metadata(Some(&topic), TIMEOUT)
                .map_err(|e| ExtError::Transient(format!("Kafka metadata: {e}")))?;
            Ok(md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .and_then(|t| {
                    match t.error().map(RDKafkaErrorCode::from) {
                        Some(
                            RDKafkaErrorCode::UnknownTopicOrPartition
                            | RDKafkaErrorCode::UnknownTopic,
                        ) => None,
                        // Other errors (leader not available, ...) still mean the topic exists.
                        _ if t.partitions().is_empty() && t.error().is_none() => None,
                        _ => Some(t.partitions().len() as i32),
                    }
                }))
        })
        .await
        .map_err(|e| ExtError::Transient(format!("Kafka metadata task: {e}")))?
    }

    async fn create(&self, topic: &TopicPlan) -> ExtResult<bool> {
        let admin = self.admin()?;
        let retention = topic.retention_ms.to_string();
        let new = NewTopic::new(
            &topic.name,
            topic.partitions,
            TopicReplication::Fixed(topic.replication_factor),
        )
        .set("retention.ms", &retention);
        let res = admin
            .create_topics([&new], &Self::opts())
            .await
            .map_err(transient("creating topic"))?;
        match res.into_iter().next() {
            Some(Ok(_)) => Ok(true),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
            Some(Err((name, code))) => Err(classify_code(&format!("creating topic {name}"), code)),
            None => Ok(true),
        }
    }

    /// Claims by topic name (the latest record per key; an empty value is a release).
    pub async fn read_claims(&self) -> ExtResult<BTreeMap<String, Claim>> {
        let mut cache = self.claims.lock().await;
        if let Some(c) = cache.as_ref() {
            return Ok(c.clone());
        }
        let claims = self.fetch_claims().await?;
        *cache = Some(claims.clone());
        Ok(claims)
    }

    async fn fetch_claims(&self) -> ExtResult<BTreeMap<String, Claim>> {
        self.ensure_claims_topic().await?;
        let mut cfg = self.config.clone();
        cfg.set("group.id", "storefront-operator-claims")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false");
        tokio::task::spawn_blocking(move || {
            let c: BaseConsumer = cfg
                .create()
                .map_err(|e| ExtError::Permanent(format!("Kafka client: {e}")))?;
            let (low, high) = c
                .fetch_watermarks(CLAIMS_TOPIC, 0, TIMEOUT)
                .map_err(|e| ExtError::Transient(format!("reading claims: {e}")))?;
            let mut claims = BTreeMap::new();
            if high <= low {
                return Ok(claims);
            }
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(CLAIMS_TOPIC, 0, Offset::Offset(low))
                .map_err(|e| ExtError::Transient(format!("reading claims: {e}")))?;
            c.assign(&tpl)
                .map_err(|e| ExtError::Transient(format!("reading claims: {e}")))?;
            let deadline = std::time::Instant::now() + TIMEOUT * 3;
            loop {
                if std::time::Instant::now() > deadline {
                    return Err(ExtError::Transient(
                        "reading claims: timed out before the end of the claims topic".into(),
                    ));
                }
                match c.poll(Duration::from_millis(500)) {
                    Some(Ok(m)) => {
                        let key = m
                            .key()
                            .map(|k| String::from_utf8_lossy(k).into_owned())
                            .unwrap_or_default();
                        match m.payload().and_then(|p| std::str::from_utf8(p).ok()) {
                            Some(v) if !v.is_empty() => {
                                if let Some(claim) = Claim::decode(v) {
                                    claims.insert(key, claim);
                                }
                            }
                            _ => {
                                claims.remove(&key);
                            }
                        }
                        if m.offset() + 1 >= high {
                            return Ok(claims);
                        }
                    }
                    Some(Err(e)) => {
                        return Err(ExtError::Transient(format!("reading claims: {e}")));
                    }
                    None => {}
                }
            }
        })
        .await
        .map_err(|e| ExtError::Transient(format!("claims task: {e}")))?
    }

    async fn ensure_claims_topic(&self) -> ExtResult<()> {
        if self.partitions(CLAIMS_TOPIC).await?.is_some() {
            return Ok(());
        }
        let admin = self.admin()?;
        let new = NewTopic::new(CLAIMS_TOPIC, 1, TopicReplication::Fixed(1))
            .set("cleanup.policy", "compact");
        let res = admin
            .create_topics([&new], &Self::opts())
            .await
            .map_err(transient("creating the claims topic"))?;
        match res.into_iter().next() {
            Some(Err((_, code))) if code != RDKafkaErrorCode::TopicAlreadyExists => {
                Err(classify_code("creating the claims topic", code))
            }
            _ => Ok(()),
        }
    }

    async fn write_claim(&self, topic: &str, claim: Option<&Claim>) -> ExtResult<()> {
        self.ensure_claims_topic().await?;
        let producer: FutureProducer = self
            .config
            .clone()
            .set("message.timeout.ms", "10000")
            .create()
            .map_err(|e| ExtError::Permanent(format!("Kafka producer: {e}")))?;
        let value = claim.map(Claim::encode).unwrap_or_default();
        let record = FutureRecord::to(CLAIMS_TOPIC)
            .key(topic)
            .payload(&value)
            .partition(0);
        producer
            .send(record, TIMEOUT)
            .await
            .map_err(|(e, _)| ExtError::Transient(format!("writing claim of {topic}: {e}")))?;
        if let Some(cache) = self.claims.lock().await.as_mut() {
            match claim {
                Some(c) => cache.insert(topic.to_string(), c.clone()),
                None => cache.remove(topic),
            };
        }
        Ok(())
    }

    /// Partitions only grow; retention is corrected when the broker lets us read configs.
    async fn correct_drift(&self, topic: &TopicPlan) -> ExtResult<()> {
        if let Some(have) = self.partitions(&topic.name).await?
            && have < topic.partitions
        {
            let admin = self.admin()?;
            let np = NewPartitions::new(&topic.name, topic.partitions as usize);
            match admin.create_partitions([&np], &Self::opts()).await {
                Ok(r) => match r.into_iter().next() {
                    Some(Err((_, code))) => {
                        tracing::warn!(topic = %topic.name, %code, have, want = topic.partitions, "broker refused to add partitions")
                    }
                    _ => {
                        tracing::info!(topic = %topic.name, have, want = topic.partitions, "added partitions")
                    }
                },
                Err(e) => {
                    tracing::warn!(topic = %topic.name, error = %e, "broker does not support CreatePartitions; partition count left as is")
                }
            }
        }
        let admin = self.admin()?;
        let spec = ResourceSpecifier::Topic(&topic.name);
        let current = match admin.describe_configs([&spec], &Self::opts()).await {
            Ok(r) => match r.into_iter().next() {
                Some(Ok(res)) => res.get("retention.ms").and_then(|e| e.value.clone()),
                Some(Err(code)) => {
                    tracing::warn!(topic = %topic.name, %code, "DescribeConfigs refused; retention not verified");
                    return Ok(());
                }
                None => None,
            },
            Err(e) => {
                tracing::warn!(topic = %topic.name, error = %e, "broker does not support DescribeConfigs; retention not verified");
                return Ok(());
            }
        };
        let want = topic.retention_ms.to_string();
        if current.as_deref() != Some(want.as_str()) {
            let alter =
                AlterConfig::new(ResourceSpecifier::Topic(&topic.name)).set("retention.ms", &want);
            match admin.alter_configs([&alter], &Self::opts()).await {
                Ok(r) => match r.into_iter().next() {
                    Some(Err((_, code))) => {
                        tracing::warn!(topic = %topic.name, %code, "AlterConfigs refused; retention not corrected")
                    }
                    _ => {
                        tracing::info!(topic = %topic.name, from = ?current, to = %want, "corrected retention.ms")
                    }
                },
                Err(e) => {
                    tracing::warn!(topic = %topic.name, error = %e, "broker does not support AlterConfigs; retention not corrected")
                }
            }
        }
        Ok(())
    }

    async fn ensure_inner(&self, topic: &TopicPlan, claim: &Claim) -> ExtResult<Ensured> {
        let claims = self.read_claims().await?;
        let decision = claim.decide(claims.get(&topic.name));
        if let ClaimDecision::Conflict(owner) = decision {
            return Err(ExtError::Conflict {
                resource: format!("topic {}", topic.name),
                owner,
            });
        }
        // Existence from metadata: some brokers (tansu) do not always answer CreateTopics for
        // an existing topic with TopicAlreadyExists.
        let created = match self.partitions(&topic.name).await? {
            Some(_) => false,
            None => self.create(topic).await?,
        };
        let outcome = match (created, &decision) {
            (true, _) => Ensured::Created,
            (false, ClaimDecision::Ours) => Ensured::Unchanged,
            (false, _) => Ensured::Adopted,
        };
        if decision != ClaimDecision::Ours {
            self.write_claim(&topic.name, Some(claim)).await?;
        }
        if !created {
            self.correct_drift(topic).await?;
        }
        Ok(outcome)
    }

    async fn delete_inner(&self, topic: &TopicPlan, claim: &Claim) -> ExtResult<()> {
        let claims = self.read_claims().await?;
        match claims.get(&topic.name) {
            Some(c) if c.same_owner(claim) => {}
            // Not ours: never deleted on our behalf.
            _ => return Ok(()),
        }
        let admin = self.admin()?;
        let res = admin
            .delete_topics(&[&topic.name], &Self::opts())
            .await
            .map_err(transient("deleting topic"))?;
        match res.into_iter().next() {
            Some(Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))) | Some(Ok(_)) | None => {}
            Some(Err((name, code))) => {
                return Err(classify_code(&format!("deleting topic {name}"), code));
            }
        }
        self.write_claim(&topic.name, None).await
    }

    /// Whether DeleteTopics can be trusted on this broker. Asking for the claims topic's own
    /// partition count is a no-op every Kafka since 1.0 refuses with `InvalidPartitions`; a
    /// broker that does not implement CreatePartitions at all is not a full Kafka, and the one
    /// such broker we know (tansu 0.6, the dev broker) deletes every topic when asked to delete
    /// one, so topics are not deleted there.
    async fn deletion_guard_inner(&self) -> ExtResult<Option<String>> {
        self.ensure_claims_topic().await?;
        let have = self.partitions(CLAIMS_TOPIC).await?.unwrap_or(1);
        let admin = self.admin()?;
        let np = NewPartitions::new(CLAIMS_TOPIC, have.max(1) as usize);
        let answer = match admin.create_partitions([&np], &Self::opts()).await {
            Ok(r) => match r.into_iter().next() {
                Some(Err((_, code))) => Some(code),
                _ => None,
            },
            Err(KafkaError::AdminOp(code)) => Some(code),
            Err(e) => return Err(ExtError::Transient(format!("probing the broker: {e}"))),
        };
        Ok(match answer {
            None | Some(RDKafkaErrorCode::InvalidPartitions) => None,
            Some(code) => Some(format!(
                "the broker answered CreatePartitions with {code}, so it is not a full Kafka \
                 (tansu 0.6 deletes every topic when one is deleted): topics were released, \
                 not deleted; delete them by hand"
            )),
        })
    }

    async fn release_inner(&self, topic: &TopicPlan, claim: &Claim) -> ExtResult<()> {
        let claims = self.read_claims().await?;
        if claims.get(&topic.name).is_some_and(|c| c.same_owner(claim)) {
            self.write_claim(&topic.name, None).await?;
        }
        Ok(())
    }
}

fn transient(what: &'static str) -> impl Fn(KafkaError) -> ExtError {
    move |e| ExtError::Transient(format!("{what}: {e}"))
}

fn classify_code(what: &str, code: RDKafkaErrorCode) -> ExtError {
    use RDKafkaErrorCode::*;
    match code {
        InvalidTopic
        | InvalidPartitions
        | InvalidReplicationFactor
        | InvalidConfig
        | TopicAuthorizationFailed
        | ClusterAuthorizationFailed
        | PolicyViolation => ExtError::Permanent(format!("{what}: {code}")),
        _ => ExtError::Transient(format!("{what}: {code}")),
    }
}

impl Topics for Kafka {
    fn ensure(&self, topic: &TopicPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<Ensured>> {
        let (t, c) = (topic.clone(), claim.clone());
        async move { self.ensure_inner(&t, &c).await }.boxed()
    }
    fn delete(&self, topic: &TopicPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        let (t, c) = (topic.clone(), claim.clone());
        async move { self.delete_inner(&t, &c).await }.boxed()
    }
    fn release(&self, topic: &TopicPlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        let (t, c) = (topic.clone(), claim.clone());
        async move { self.release_inner(&t, &c).await }.boxed()
    }
    fn deletion_guard(&self) -> BoxFuture<'_, ExtResult<Option<String>>> {
        async move { self.deletion_guard_inner().await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    //! Against the local Kafka-protocol broker (tansu, 127.0.0.1:9092).
    use super::*;
    use crate::external::testing::{claim, unique};

    fn brokers() -> String {
        std::env::var("STOREFRONT_KAFKA__BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
    }

    fn plan(name: &str, partitions: i32) -> TopicPlan {
        TopicPlan {
            name: name.into(),
            partitions,
            replication_factor: 1,
            retention_ms: 3_600_000,
        }
    }

    /// DeleteTopics is exercised only when `STOREFRONT_TEST_KAFKA_DELETE=1`: on tansu 0.6 (the
    /// dev broker) deleting one topic also removed unrelated topics, which would break everyone
    /// else's tests on the shared broker.
    fn may_delete() -> bool {
        std::env::var("STOREFRONT_TEST_KAFKA_DELETE").is_ok_and(|v| v == "1")
    }

    #[tokio::test]
    async fn create_adopt_conflict_release_and_delete() {
        let k = Kafka::new(&brokers()).unwrap();
        let t = plan(&unique("sfop-topic-"), 2);
        let older = claim("older", "2026-01-01T00:00:00Z");
        let newer = claim("newer", "2026-03-01T00:00:00Z");

        assert_eq!(k.ensure(&t, &newer).await.unwrap(), Ensured::Created);
        assert_eq!(k.partitions(&t.name).await.unwrap(), Some(2));
        assert_eq!(k.ensure(&t, &newer).await.unwrap(), Ensured::Unchanged);
        // The older Storefront wins; the newer gets a conflict and cannot delete it.
        assert_eq!(k.ensure(&t, &older).await.unwrap(), Ensured::Adopted);
        // A fresh client (another reconcile) reads the claim back from the claims topic.
        let fresh = Kafka::new(&brokers()).unwrap();
        let e = fresh.ensure(&t, &newer).await.unwrap_err();
        assert!(
            matches!(e, ExtError::Conflict { ref owner, .. } if owner == "test/older"),
            "{e:?}"
        );
        fresh.delete(&t, &newer).await.unwrap();
        assert_eq!(k.partitions(&t.name).await.unwrap(), Some(2));
        // Retain releases the claim; then another Storefront adopts the topic.
        k.release(&t, &older).await.unwrap();
        assert!(!k.read_claims().await.unwrap().contains_key(&t.name));
        assert_eq!(k.ensure(&t, &newer).await.unwrap(), Ensured::Adopted);
        // Drift: more partitions wanted (only where the broker supports CreatePartitions).
        let wider = TopicPlan {
            partitions: 4,
            ..t.clone()
        };
        assert_eq!(k.ensure(&wider, &newer).await.unwrap(), Ensured::Unchanged);
        // The topic was created with our retention (tansu answers DescribeConfigs; it refuses
        // CreatePartitions and AlterConfigs with UnsupportedFeature, which correct_drift logs).
        let admin = k.admin().unwrap();
        let spec = ResourceSpecifier::Topic(&t.name);
        let described = admin
            .describe_configs([&spec], &Kafka::opts())
            .await
            .unwrap();
        let retention = described[0]
            .as_ref()
            .unwrap()
            .get("retention.ms")
            .and_then(|e| e.value.clone());
        assert_eq!(retention.as_deref(), Some("3600000"));

        // An unclaimed topic that already exists is adopted.
        let other = plan(&unique("sfop-topic-"), 1);
        assert!(k.create(&other).await.unwrap());
        assert_eq!(k.ensure(&other, &newer).await.unwrap(), Ensured::Adopted);

        if may_delete() {
            k.delete(&t, &newer).await.unwrap();
            assert_eq!(k.partitions(&t.name).await.unwrap(), None);
            // Gone, and deleting again is success.
            k.delete(&t, &newer).await.unwrap();
            k.delete(&other, &newer).await.unwrap();
        } else {
            k.release(&t, &newer).await.unwrap();
            k.release(&other, &newer).await.unwrap();
        }
        let fresh = Kafka::new(&brokers()).unwrap();
        assert!(!fresh.read_claims().await.unwrap().contains_key(&t.name));
    }

    /// The dev broker (tansu 0.6) deletes every topic when one is deleted: it is detected
    /// without deleting anything, so cleanup releases topics there instead.
    #[tokio::test]
    async fn tansu_is_not_trusted_with_topic_deletion() {
        let k = Kafka::new(&brokers()).unwrap();
        let t = plan(&unique("sfop-guard-"), 1);
        assert!(k.create(&t).await.unwrap());
        let reason = k.deletion_guard().await.unwrap();
        if may_delete() {
            assert_eq!(reason, None, "a real Kafka is trusted");
        } else {
            let reason = reason.expect("tansu is detected");
            assert!(reason.contains("released, not deleted"), "{reason}");
        }
        // The probe changed nothing.
        assert_eq!(k.partitions(&t.name).await.unwrap(), Some(1));
        assert_eq!(k.partitions(CLAIMS_TOPIC).await.unwrap(), Some(1));
    }

    #[tokio::test]
    async fn unreachable_broker_is_transient() {
        let k = Kafka::new("127.0.0.1:1").unwrap();
        let me = claim("me", "2026-01-01T00:00:00Z");
        let e = k.ensure(&plan("x", 1), &me).await.unwrap_err();
        assert!(matches!(e, ExtError::Transient(_)), "{e:?}");
    }
}
