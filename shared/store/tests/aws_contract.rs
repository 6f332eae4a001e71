//! The store contract and AWS-specific behaviour against the AWS emulator (moto) at
//! `AWS_ENDPOINT_URL`. Each test creates its own uniquely named tables and queues with
//! the SDK and deletes them at the end (a failed test leaves them in the emulator).

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept};
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{TimeZone, Utc};
use ferry_domain::ports::{ConfigStore, OutMessage, Queue, QueueName, ScheduleControl, StateStore};
use ferry_domain::{
    ChangeEvent, EntityId, EntityRef, EntitySnapshot, ErrorCategory, FailureRecord, Flow, IntegrationId, Link,
    Watermark, MESSAGE_SCHEMA,
};
use ferry_store::aws::s3::{S3Client, S3Request};
use ferry_store::aws::{AwsNames, DynamoStore, PayloadStore, SchedulerControl, SqsQueue, MESSAGE_INLINE_MAX};
use ferry_store::contract;
use reqwest::Method;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAX_RECEIVES: u32 = 3;

struct Clients {
    dynamo: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    scheduler: aws_sdk_scheduler::Client,
    s3: S3Client,
    sdk_config: aws_config::SdkConfig,
}

async fn clients() -> Clients {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| {
        panic!(
            "AWS_ENDPOINT_URL is not set: the AWS adapter tests need the AWS emulator. Start it with \
             `infra/moto.sh start` and export what `infra/moto.sh env` prints (CI does this), or run \
             `moto_server -H 127.0.0.1 -p 5000` and set AWS_ENDPOINT_URL=http://127.0.0.1:5000"
        )
    });
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint);
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        loader =
            loader.credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "tests"));
    }
    let sdk_config = loader.load().await;
    Clients {
        dynamo: aws_sdk_dynamodb::Client::new(&sdk_config),
        sqs: aws_sdk_sqs::Client::new(&sdk_config),
        scheduler: aws_sdk_scheduler::Client::new(&sdk_config),
        // Path-style, as for any configured endpoint: the emulator serves no per-bucket host names.
        s3: S3Client::from_sdk_config(&sdk_config, reqwest::Client::new()),
        sdk_config,
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn key_schema(hash: &str, range: &str) -> Vec<KeySchemaElement> {
    [(hash, KeyType::Hash), (range, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("key"))
        .collect()
}

fn string_attrs(names: &[&str]) -> Vec<AttributeDefinition> {
    names
        .iter()
        .map(|n| {
            AttributeDefinition::builder()
                .attribute_name(*n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr")
        })
        .collect()
}

/// Tables and queues shaped like template.yaml, under unique names.
struct Stack {
    c: Clients,
    names: AwsNames,
}

impl Stack {
    async fn create(max_receives: u32) -> Stack {
        let c = clients().await;
        let prefix = unique("ferry-test");
        let config_table = format!("{prefix}-config");
        let state_table = format!("{prefix}-state");
        c.dynamo
            .create_table()
            .table_name(&config_table)
            .set_key_schema(Some(key_schema("pk", "sk")))
            .set_attribute_definitions(Some(string_attrs(&["pk", "sk"])))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create config table");
        let gsi = GlobalSecondaryIndex::builder()
            .index_name("gsi1")
            .set_key_schema(Some(key_schema("gsi1pk", "gsi1sk")))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .expect("gsi");
        c.dynamo
            .create_table()
            .table_name(&state_table)
            .set_key_schema(Some(key_schema("pk", "sk")))
            .set_attribute_definitions(Some(string_attrs(&["pk", "sk", "gsi1pk", "gsi1sk"])))
            .global_secondary_indexes(gsi)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create state table");
        let mut urls = Vec::new();
        for name in ["changes", "writes"] {
            let dlq = Self::fifo(&c, &format!("{prefix}-{name}-dlq.fifo"), None).await;
            let arn = c
                .sqs
                .get_queue_attributes()
                .queue_url(&dlq)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("dlq arn")
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .expect("dlq has an arn");
            let redrive =
                serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receives }).to_string();
            let queue = Self::fifo(&c, &format!("{prefix}-{name}.fifo"), Some(redrive)).await;
            urls.push((queue, dlq));
        }
        let payload_bucket = prefix.to_ascii_lowercase();
        create_bucket(&c, &payload_bucket).await;
        let names = AwsNames {
            config_table,
            state_table,
            changes_queue_url: urls[0].0.clone(),
            writes_queue_url: urls[1].0.clone(),
            changes_dlq_url: urls[0].1.clone(),
            writes_dlq_url: urls[1].1.clone(),
            max_receives,
            payload_bucket,
        };
        Stack { c, names }
    }

    async fn fifo(c: &Clients, name: &str, redrive: Option<String>) -> String {
        let mut req = c
            .sqs
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
            .attributes(QueueAttributeName::VisibilityTimeout, "30");
        if let Some(r) = redrive {
            req = req.attributes(QueueAttributeName::RedrivePolicy, r);
        }
        req.send().await.expect("create queue").queue_url.expect("queue url")
    }

    fn payloads(&self) -> PayloadStore {
        PayloadStore::new(self.c.s3.clone(), &self.names.payload_bucket)
    }

    fn store(&self) -> DynamoStore {
        DynamoStore::new(self.c.dynamo.clone(), &self.names).with_payloads(self.payloads())
    }

    fn queue(&self) -> SqsQueue {
        SqsQueue::new(self.c.sqs.clone(), &self.names).with_payloads(self.payloads())
    }

    /// The keys of the payload bucket's objects under `prefix` (ListObjectsV2; a test
    /// bucket holds fewer than its 1000 keys a page).
    async fn objects(&self, prefix: &str) -> Vec<String> {
        let query = [("list-type", "2"), ("prefix", prefix)];
        let listing = self.bucket_request(Method::GET, "", &query, b"").await;
        let listing = String::from_utf8(listing).expect("UTF-8 listing");
        assert!(!listing.contains("<IsTruncated>true</IsTruncated>"), "more keys than one page: {listing}");
        listing.split("<Key>").skip(1).filter_map(|rest| rest.split_once("</Key>")).map(|(k, _)| xml_text(k)).collect()
    }

    async fn bucket_request(&self, method: Method, key: &str, query: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        s3_request(&self.c, method, &self.names.payload_bucket, key, query, body).await
    }

    async fn delete(self) {
        for t in [&self.names.config_table, &self.names.state_table] {
            self.c.dynamo.delete_table().table_name(t).send().await.expect("delete table");
        }
        for q in [
            &self.names.changes_queue_url,
            &self.names.writes_queue_url,
            &self.names.changes_dlq_url,
            &self.names.writes_dlq_url,
        ] {
            self.c.sqs.delete_queue().queue_url(q).send().await.expect("delete queue");
        }
        for key in self.objects("").await {
            self.c.s3.delete_object(&self.names.payload_bucket, &key).await.expect("delete object");
        }
        self.bucket_request(Method::DELETE, "", &[], b"").await;
    }
}

/// CreateBucket in the configured region (outside us-east-1 S3 wants it named).
async fn create_bucket(c: &Clients, bucket: &str) {
    let region = c.sdk_config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let body = match region.as_str() {
        "us-east-1" => String::new(),
        r => format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{r}</LocationConstraint></CreateBucketConfiguration>"
        ),
    };
    s3_request(c, Method::PUT, bucket, "", &[], body.as_bytes()).await;
}

async fn s3_request(
    c: &Clients,
    method: Method,
    bucket: &str,
    key: &str,
    query: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let what = format!("S3 {method} {bucket}/{key}");
    let request = S3Request { method, bucket, key, query, content_type: None, body, max_response: 16 << 20 };
    c.s3.send(request).await.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The text of an XML element (keys are listed escaped).
fn xml_text(escaped: &str) -> String {
    escaped
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn iid(s: &str) -> IntegrationId {
    IntegrationId::parse(unique(s)).expect("valid id")
}

fn at(secs: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).single().expect("valid date") + chrono::Duration::seconds(secs)
}

fn entity_ref(id: &str) -> EntityRef {
    EntityRef {
        id: EntityId::new(id),
        key: format!("K-{id}"),
        url: format!("https://x.test/{id}"),
        revision: "1".into(),
        updated: at(0),
    }
}

fn link(i: &IntegrationId, left: &str, right: &str) -> Link {
    Link { integration: i.clone(), left: entity_ref(left), right: entity_ref(right), created_at: at(1) }
}

fn failure(i: &IntegrationId, entity: &str, first: i64, cause: String) -> FailureRecord {
    FailureRecord {
        id: unique("failure"),
        integration: i.clone(),
        flow: Flow::LeftToRight,
        entity: EntityId::new(entity),
        entity_key: format!("APP-{entity}"),
        category: ErrorCategory::InvalidRequest,
        cause,
        input: ChangeEvent {
            schema: MESSAGE_SCHEMA,
            integration: i.clone(),
            flow: Flow::LeftToRight,
            snapshot: EntitySnapshot {
                id: EntityId::new(entity),
                key: format!("APP-{entity}"),
                revision: "1".into(),
                updated: at(first),
                changed_by: None,
                url: format!("https://x.test/{entity}"),
                fields: BTreeMap::new(),
            },
            matches_filter: true,
            polled_at: at(first),
            replay: None,
            winner: None,
        },
        mapping_output: None,
        attempts: 1,
        first_failed_at: at(first),
        last_failed_at: at(first),
    }
}

fn msg(group: &str, dedup: &str, body: &str) -> OutMessage {
    OutMessage { group_id: group.into(), dedup_id: dedup.into(), body: body.into() }
}

async fn drain(q: &SqsQueue, name: QueueName) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let got = q.receive(name, 10, Duration::from_secs(30)).await.expect("receive");
        if got.is_empty() {
            return bodies;
        }
        for d in got {
            bodies.push(d.body.clone());
            q.ack(name, &d.receipt).await.expect("ack");
        }
    }
}

#[tokio::test]
async fn config_store_contract_holds_on_dynamodb() {
    let stack = Stack::create(MAX_RECEIVES).await;
    contract::config_store(&stack.store()).await;
    contract::config_store(&stack.store()).await;
    stack.delete().await;
}

#[tokio::test]
async fn state_store_contract_holds_on_dynamodb_twice() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    contract::state_store(&store).await;
    contract::state_store(&store).await;
    stack.delete().await;
}

#[tokio::test]
async fn an_unreadable_failure_is_listed_among_the_others_on_dynamodb() {
    let stack = Stack::create(MAX_RECEIVES).await;
    // Its payload object is gone (deleted by hand, or by a bucket lifecycle rule).
    let spoil = async |id: &str| {
        let objects = stack.objects(&format!("failures/{id}/")).await;
        assert_eq!(objects.len(), 1, "the record is kept as a payload object: {objects:?}");
        stack.c.s3.delete_object(&stack.names.payload_bucket, &objects[0]).await.expect("delete object");
    };
    contract::unreadable_failures(&stack.store(), spoil).await;
    stack.delete().await;
}

#[tokio::test]
async fn collaboration_contract_holds_on_dynamodb_twice() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    contract::collaboration(&store).await;
    contract::collaboration(&store).await;
    stack.delete().await;
}

#[tokio::test]
async fn webhook_contract_holds_on_dynamodb_twice() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    contract::webhooks(&store).await;
    contract::webhooks(&store).await;
    stack.delete().await;
}

#[tokio::test]
async fn commit_link_contract_holds_on_dynamodb_twice() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    contract::commit_links(&store).await;
    contract::commit_links(&store).await;
    stack.delete().await;
}

#[tokio::test]
async fn rate_limit_contract_holds_on_dynamodb_twice() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    contract::rate_limits(&store).await;
    contract::rate_limits(&store).await;
    stack.delete().await;
}

/// Two functions' stores (each with its own idea of the bucket) share one bucket item:
/// together they take exactly the burst, and a pause by one holds the other.
#[tokio::test]
async fn two_functions_share_a_systems_bucket_on_dynamodb() {
    use ferry_domain::ports::RateLimitStore;
    use ferry_domain::rate_limit::{Grant, RateLimit};
    let stack = Stack::create(MAX_RECEIVES).await;
    let (transform, write) = (stack.store(), stack.store());
    let system = ferry_domain::SystemId::parse(unique("jira")).expect("id");
    let limit = RateLimit { per_second: 1.0, burst: 12 };
    let now = at(0);
    let mut taken = 0;
    for _ in 0..4 {
        let (a, b) =
            tokio::join!(transform.take_tokens(&system, &limit, 2, now), write.take_tokens(&system, &limit, 2, now));
        for g in [a.expect("take"), b.expect("take")] {
            if let Grant::Tokens(n) = g {
                taken += n;
            }
        }
    }
    assert_eq!(taken, 12, "eight takes of 2 against a burst of 12");
    write.pause_tokens(&system, at(30)).await.expect("pause");
    let paused = transform.take_tokens(&system, &limit, 1, at(10)).await.expect("take");
    assert_eq!(paused, Grant::Wait(std::time::Duration::from_secs(20)), "the other function's pause holds");
    let later = transform.take_tokens(&system, &limit, 4, at(34)).await.expect("take");
    assert_eq!(later, Grant::Tokens(4), "it refills from the pause's end: 4 s at 1/s");
    stack.delete().await;
}

#[tokio::test]
async fn queue_contract_holds_on_sqs() {
    let stack = Stack::create(MAX_RECEIVES).await;
    contract::queue(&stack.queue(), stack.names.max_receives).await;
    stack.delete().await;
}

#[tokio::test]
async fn conditional_writes_conflict_and_name_the_stored_version() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let i = iid("int");
    let wm = Watermark { cursor: at(5), ..Watermark::starting_at(at(0)) };
    store.put_watermark(&i, Flow::LeftToRight, &wm, None).await.expect("first put");
    store.put_watermark(&i, Flow::LeftToRight, &wm, Some(1)).await.expect("second put");
    let err = store.put_watermark(&i, Flow::LeftToRight, &wm, Some(1)).await.expect_err("stale version");
    assert_eq!(err.category, ErrorCategory::Conflict);
    assert!(err.message.contains("expected version 1, stored version 2"), "{}", err.message);
    assert!(err.is_retryable());
    stack.delete().await;
}

#[tokio::test]
async fn relinking_replaces_the_old_links_of_both_entities_and_keeps_the_count() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let i = iid("int");
    store.put_link(&link(&i, "L1", "R1")).await.expect("link 1");
    store.put_link(&link(&i, "L2", "R2")).await.expect("link 2");
    assert_eq!(store.count_links(&i).await.expect("count"), 2);
    // L1 moves to R2: both (L1,R1) and (L2,R2) are replaced by one link.
    let l = link(&i, "L1", "R2");
    store.put_link(&l).await.expect("relink");
    let get = |side, id: &str| {
        let (store, i, id) = (store.clone(), i.clone(), EntityId::new(id));
        async move { store.get_link(&i, side, &id).await.expect("get") }
    };
    assert_eq!(get(ferry_domain::Side::Left, "L1").await, Some(l.clone()));
    assert_eq!(get(ferry_domain::Side::Right, "R2").await, Some(l.clone()));
    assert_eq!(get(ferry_domain::Side::Right, "R1").await, None);
    assert_eq!(get(ferry_domain::Side::Left, "L2").await, None);
    assert_eq!(store.count_links(&i).await.expect("count"), 1);
    store.put_link(&l).await.expect("same link again");
    assert_eq!(store.count_links(&i).await.expect("count"), 1, "re-putting a link does not count it twice");
    stack.delete().await;
}

#[tokio::test]
async fn concurrent_counter_increments_are_not_lost() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let i = iid("int");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, i) = (store.clone(), i.clone());
            tokio::spawn(
                async move { store.incr_counter(&i, Flow::LeftToRight, ferry_domain::Counter::Synced, 2).await },
            )
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("incr");
    }
    assert_eq!(store.counts(&i, Flow::LeftToRight).await.expect("counts").synced, 20);
    stack.delete().await;
}

#[tokio::test]
async fn failures_are_listed_across_several_index_pages() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let (i, other) = (iid("int"), iid("int"));
    // ~100 KB each: 25 of them span three 1 MB query pages.
    let mut expected = Vec::new();
    for n in 0..25i64 {
        let f = failure(&i, &format!("e{n}"), 1000 - n, format!("{n}: {}", "x".repeat(100_000)));
        store.put_failure(&f).await.expect("put_failure");
        expected.push(f);
    }
    let elsewhere = failure(&other, "e0", 0, "other".into());
    store.put_failure(&elsewhere).await.expect("put_failure");
    expected.sort_by_key(|f| f.first_failed_at);

    let first_page = stack
        .c
        .dynamo
        .query()
        .table_name(&stack.names.state_table)
        .index_name("gsi1")
        .key_condition_expression("gsi1pk = :g")
        .expression_attribute_values(":g", aws_sdk_dynamodb::types::AttributeValue::S(format!("failures#{i}")))
        .send()
        .await
        .expect("raw query");
    assert!(first_page.last_evaluated_key.is_some(), "the fixture must need more than one page");

    assert_eq!(store.list_failures(Some(&i)).await.expect("list"), expected);
    let all = store.list_failures(None).await.expect("list all");
    assert_eq!(all.len(), 26);
    assert_eq!(all[0], elsewhere, "oldest first across integrations");
    stack.delete().await;
}

/// A write step's two fingerprints are one item, deflated under 1 KB: one billed write
/// unit instead of two. (Fingerprints of a realistic mapping are ~0.7 KB of JSON each.)
#[tokio::test]
async fn a_pairs_fingerprints_are_one_item_under_a_kilobyte() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use ferry_domain::{FieldValue, Fingerprint, Side, UserRef};
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let i = iid("int");
    let fp = |side: Side, id: &str, fields: &[&str]| Fingerprint {
        integration: i.clone(),
        side,
        entity: EntityId::new(id),
        values: fields
            .iter()
            .enumerate()
            .map(|(n, f)| {
                let v = match n % 4 {
                    0 => FieldValue::User(UserRef {
                        id: format!("5b10ac8d82e05b22cc7d000{n}"),
                        email: Some("carol@acme.test".into()),
                        display_name: Some("Carol White".into()),
                    }),
                    1 => {
                        FieldValue::RichText(format!("<p>{}</p>", "Steps to reproduce. ".repeat(10))).fingerprint_form()
                    }
                    2 => FieldValue::Option("In Progress".into()),
                    _ => FieldValue::Text(format!("Checkout fails for guest users [c{n}]")),
                };
                (f.to_string(), v)
            })
            .collect(),
        written_revision: Some("1795760767606".into()),
        written_updated: Some(at(10)),
        updated_at: at(11),
        applied_source_updated: Some(at(9)),
        create_started: None,
        twin_deleted: None,
    };
    let left = fp(
        Side::Left,
        "10001",
        &[
            "assignee",
            "description",
            "status",
            "summary",
            "priority",
            "customfield_10050",
            "customfield_10051",
            "labels",
        ],
    );
    let right = fp(
        Side::Right,
        "51",
        &[
            "System.AssignedTo",
            "System.Description",
            "System.State",
            "System.Title",
            "Microsoft.VSTS.Common.Priority",
            "Custom.Severity",
            "Microsoft.VSTS.Scheduling.StoryPoints",
            "System.Tags",
        ],
    );
    let plain = serde_json::to_string(&left).expect("json").len() + serde_json::to_string(&right).expect("json").len();
    assert!(plain > 1400, "the fixture is as large as real fingerprints: {plain} bytes");
    store.put_link(&link(&i, "10001", "51")).await.expect("put_link");
    store.put_pair(&left, &right, 0).await.expect("put_pair");

    let key = std::collections::HashMap::from([
        ("pk".to_string(), AttributeValue::S(format!("pair#{i}#10001"))),
        ("sk".to_string(), AttributeValue::S("pair".into())),
    ]);
    let got = stack.c.dynamo.get_item().table_name(&stack.names.state_table).set_key(Some(key)).send().await;
    let item = got.expect("raw get").item.expect("the pair item exists");
    let size: usize = item
        .iter()
        .map(|(name, v)| {
            name.len()
                + match v {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::B(b) => b.as_ref().len(),
                    // DynamoDB sizes a number at 1 byte per two digits plus 1.
                    AttributeValue::N(n) => n.len().div_ceil(2) + 1,
                    other => panic!("unexpected attribute {name}: {other:?}"),
                }
        })
        .sum();
    assert!(size <= 1024, "the pair item is {size} bytes: more than one write unit");
    let key = ferry_domain::ports::StateKey::Pair(i.clone(), EntityId::new("10001"));
    let read = store.get_many(std::slice::from_ref(&key)).await.expect("get_many").remove(&key);
    let Some(ferry_domain::ports::StateRecord::Pair(pair)) = read else { panic!("the pair reads back: {read:?}") };
    assert_eq!(pair.right, Some(right));
    stack.delete().await;
}

#[tokio::test]
async fn one_lease_holder_wins_among_concurrent_pollers() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let i = iid("int");
    let attempts = (0..8).map(|n| {
        let (store, i) = (store.clone(), i.clone());
        tokio::spawn(async move {
            store.acquire_lease(&i, Flow::LeftToRight, &format!("poller-{n}"), Duration::from_secs(60)).await
        })
    });
    let mut winners = 0;
    for a in attempts {
        if a.await.expect("task").expect("acquire") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    stack.delete().await;
}

/// Records the entry count and ids of every SendMessageBatch call.
#[derive(Debug, Default, Clone)]
struct BatchSpy(Arc<Mutex<Vec<Batch>>>);

/// (group id, dedup id) of each entry.
type Batch = Vec<(String, String)>;

impl Intercept for BatchSpy {
    fn name(&self) -> &'static str {
        "BatchSpy"
    }
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(input) = context.input().downcast_ref::<SendMessageBatchInput>() {
            let entries = input
                .entries()
                .iter()
                .map(|e| {
                    (
                        e.message_group_id().unwrap_or_default().to_string(),
                        e.message_deduplication_id().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            self.0.lock().expect("spy lock").push(entries);
        }
        Ok(())
    }
}

fn spied_queue(stack: &Stack) -> (SqsQueue, BatchSpy) {
    let spy = BatchSpy::default();
    let conf = aws_sdk_sqs::config::Builder::from(&stack.c.sdk_config).interceptor(spy.clone()).build();
    (SqsQueue::new(aws_sdk_sqs::Client::from_conf(conf), &stack.names), spy)
}

#[tokio::test]
async fn eleven_messages_go_out_as_two_batches_in_order() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let (q, spy) = spied_queue(&stack);
    let run = unique("run");
    let messages: Vec<OutMessage> = (0..11).map(|n| msg(&run, &format!("{run}-{n}"), &format!("m{n}"))).collect();
    q.send(QueueName::Changes, &messages).await.expect("send");
    let sizes: Vec<usize> = spy.0.lock().expect("spy").iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 1]);
    assert_eq!(q.depth(QueueName::Changes).await.expect("depth"), 11);
    let bodies = drain(&q, QueueName::Changes).await;
    assert_eq!(bodies, (0..11).map(|n| format!("m{n}")).collect::<Vec<_>>(), "one group keeps send order");
    stack.delete().await;
}

#[tokio::test]
async fn ids_sqs_would_reject_are_sent_hashed_and_still_deduplicate() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let (q, spy) = spied_queue(&stack);
    let long = format!("{}-{}", unique("d"), "x".repeat(200));
    let spaced = format!("{} with spaces é", unique("d"));
    q.send(QueueName::Writes, &[msg("group with space", &long, "long"), msg("g", &spaced, "spaced")])
        .await
        .expect("send");
    let sent = spy.0.lock().expect("spy")[0].clone();
    for (group, dedup) in &sent {
        assert_eq!(dedup.len(), 64, "{dedup}");
        assert!(dedup.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!group.contains(' '));
    }
    assert_eq!(sent[1].0, "g", "valid ids are sent as given");
    // A fresh adapter (no memory of the first send) relies on SQS's own dedup.
    let fresh = SqsQueue::new(stack.c.sqs.clone(), &stack.names);
    fresh.send(QueueName::Writes, &[msg("group with space", &long, "long again")]).await.expect("resend");
    assert_eq!(q.depth(QueueName::Writes).await.expect("depth"), 2, "the hashed dedup id matched");
    let mut bodies = drain(&q, QueueName::Writes).await;
    bodies.sort();
    assert_eq!(bodies, vec!["long", "spaced"]);
    stack.delete().await;
}

#[tokio::test]
async fn poison_messages_are_redriven_and_listing_or_deleting_dead_letters_hides_none() {
    let stack = Stack::create(2).await;
    let q = stack.queue();
    let run = unique("run");
    let w = QueueName::Writes;
    q.send(
        w,
        &[
            msg(&format!("{run}-a"), &format!("{run}-p1"), "poison-1"),
            msg(&format!("{run}-b"), &format!("{run}-p2"), "poison-2"),
            msg(&format!("{run}-c"), &format!("{run}-o"), "other"),
        ],
    )
    .await
    .expect("send");
    for _ in 0..2 {
        for d in q.receive(w, 10, Duration::from_secs(30)).await.expect("receive") {
            if d.body == "other" {
                q.ack(w, &d.receipt).await.expect("ack");
            } else {
                q.release(w, &d.receipt, Duration::ZERO).await.expect("release");
            }
        }
    }
    assert!(drain(&q, w).await.is_empty(), "the third receive redrives both poison messages");
    assert_eq!(q.depth(w).await.expect("depth"), 0);
    let first = q.dead_letters(w).await.expect("dead letters");
    let mut bodies: Vec<&str> = first.iter().map(|d| d.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, vec!["poison-1", "poison-2"]);
    assert!(first.iter().all(|d| d.receive_count >= 2 && d.receipt.is_empty()));
    let again = q.dead_letters(w).await.expect("dead letters again");
    assert_eq!(again.len(), 2, "a listing leaves the dead letters visible");
    q.delete_dead_letter(w, "no-such-message").await.expect("absent id: nothing to delete");
    assert_eq!(q.dead_letters(w).await.expect("dead letters").len(), 2, "a miss hides nothing");
    let (gone, kept) = (&first[0], &first[1]);
    q.delete_dead_letter(w, &gone.message_id).await.expect("delete");
    let left = q.dead_letters(w).await.expect("dead letters");
    assert_eq!(
        left.iter().map(|d| &d.message_id).collect::<Vec<_>>(),
        vec![&kept.message_id],
        "the other stays visible"
    );
    q.delete_dead_letter(w, &kept.message_id).await.expect("delete");
    assert!(q.dead_letters(w).await.expect("dead letters").is_empty());
    assert!(q.dead_letters(QueueName::Changes).await.expect("dead letters").is_empty());
    stack.delete().await;
}

#[tokio::test]
async fn missing_resources_are_config_errors_naming_them() {
    let c = clients().await;
    let names = AwsNames {
        config_table: unique("no-such-table"),
        state_table: unique("no-such-table"),
        changes_queue_url: format!(
            "{}/123456789012/{}",
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
            unique("no-such-queue")
        ),
        writes_queue_url: String::new(),
        changes_dlq_url: String::new(),
        writes_dlq_url: String::new(),
        max_receives: 5,
        payload_bucket: unique("no-such-bucket"),
    };
    let store = DynamoStore::new(c.dynamo.clone(), &names);
    let err = store.list_systems().await.expect_err("missing table");
    assert_eq!(err.category, ErrorCategory::Config, "{err}");
    assert!(err.message.contains(&names.config_table) && err.message.contains("Scan"), "{}", err.message);
    assert!(!err.is_retryable());
    let q = SqsQueue::new(c.sqs.clone(), &names);
    let err = q.depth(QueueName::Changes).await.expect_err("missing queue");
    assert!(err.message.contains("GetQueueAttributes") && err.message.contains("no-such-queue"), "{}", err.message);
    assert!(!err.is_retryable(), "{err}");
    // A body over the inline limit goes to the payload bucket first, and that is missing.
    let q = q.with_payloads(PayloadStore::new(c.s3.clone(), &names.payload_bucket));
    let big = long_text(MESSAGE_INLINE_MAX + 1);
    let results = q.send_each(QueueName::Changes, &[msg("g", "d", &big)]).await.expect("answered per message");
    let err = results[0].as_ref().expect("the message is not sent");
    assert_eq!(err.category, ErrorCategory::Config, "{err}");
    assert!(err.message.contains("NoSuchBucket") && err.message.contains(&names.payload_bucket), "{}", err.message);
    assert!(err.message.contains("PutObject") && !err.is_retryable(), "{err}");
}

#[tokio::test]
async fn schedules_are_created_updated_and_disabled() {
    let c = clients().await;
    let group = unique("ferry-polls");
    c.scheduler.create_schedule_group().name(&group).send().await.expect("create group");
    let control = SchedulerControl::new(
        c.scheduler.clone(),
        group.clone(),
        "arn:aws:lambda:us-east-1:123456789012:function:poll".into(),
        "arn:aws:iam::123456789012:role/scheduler".into(),
    )
    .with_dead_letter_queue(Some("arn:aws:sqs:us-east-1:123456789012:ferry-poll-dlq".into()));
    let i = IntegrationId::parse("app-bugs").expect("valid id");
    let get = || async {
        c.scheduler.get_schedule().group_name(&group).name("ferry-app-bugs-left_to_right").send().await.expect("get")
    };
    control.disable(&i, Flow::LeftToRight).await.expect("disabling a missing schedule is a no-op");

    control.enable(&i, Flow::LeftToRight, Duration::from_secs(90)).await.expect("enable");
    let s = get().await;
    assert_eq!(s.state().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(s.schedule_expression(), Some("rate(2 minutes)"));
    let target = s.target().expect("target");
    assert_eq!(target.arn(), "arn:aws:lambda:us-east-1:123456789012:function:poll");
    assert_eq!(target.role_arn(), "arn:aws:iam::123456789012:role/scheduler");
    let input: serde_json::Value = serde_json::from_str(target.input().expect("input")).expect("json input");
    assert_eq!(input, serde_json::json!({"integration": "app-bugs", "flow": "left_to_right"}));
    assert_eq!(s.flexible_time_window().map(|w| w.mode().as_str()), Some("OFF"));
    let retry = target.retry_policy().expect("a retry policy");
    assert_eq!((retry.maximum_event_age_in_seconds(), retry.maximum_retry_attempts()), (Some(60), Some(2)));
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some("arn:aws:sqs:us-east-1:123456789012:ferry-poll-dlq"),
        "undelivered ticks go to the poll dead-letter queue"
    );

    control.enable(&i, Flow::LeftToRight, Duration::from_secs(300)).await.expect("enable again updates");
    assert_eq!(get().await.schedule_expression(), Some("rate(5 minutes)"));

    control.disable(&i, Flow::LeftToRight).await.expect("disable");
    let s = get().await;
    assert_eq!(s.state().map(|s| s.as_str()), Some("DISABLED"));
    assert_eq!(s.schedule_expression(), Some("rate(5 minutes)"), "disabling keeps the definition");
    assert_eq!(s.target().and_then(|t| t.input()), target.input());

    control.enable(&i, Flow::LeftToRight, Duration::from_secs(60)).await.expect("re-enable");
    assert_eq!(get().await.state().map(|s| s.as_str()), Some("ENABLED"));
    c.scheduler.delete_schedule().group_name(&group).name("ferry-app-bugs-left_to_right").send().await.expect("delete");
    c.scheduler.delete_schedule_group().name(&group).send().await.expect("delete group");
}

/// A description of `bytes` bytes that does not compress to nothing.
fn long_text(bytes: usize) -> String {
    let words = ["login", "fails", "when", "the", "session", "cookie", "expires", "during", "checkout", "on", "mobile"];
    let mut out = String::with_capacity(bytes + 16);
    let mut i = 0usize;
    while out.len() < bytes {
        out.push_str(words[(i * 7 + i / 3) % words.len()]);
        out.push_str(if i.is_multiple_of(13) { ". " } else { " " });
        i += 1;
    }
    out
}

#[tokio::test]
async fn a_message_over_the_inline_limit_travels_as_a_claim_check_and_opens_to_its_body() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let q = stack.queue();
    let run = unique("run");
    let big = long_text(1 << 20);
    q.send(QueueName::Changes, &[msg(&run, &format!("{run}-big"), &big), msg(&run, &format!("{run}-small"), "small")])
        .await
        .expect("send");
    let got = q.receive(QueueName::Changes, 10, Duration::from_secs(30)).await.expect("receive");
    assert_eq!(got.len(), 2);
    assert!(got[0].body.len() < MESSAGE_INLINE_MAX && got[0].body.starts_with("{\"claim_check\""), "{}", &got[0].body);
    assert_eq!(q.open_body(QueueName::Changes, &got[0].body).await.expect("open"), big);
    assert_eq!(q.open_body(QueueName::Changes, &got[1].body).await.expect("open"), "small", "a short body is its own");
    assert_eq!(stack.objects("messages/changes/").await.len(), 1, "one object, under the queue's prefix");
    // The same body sent again names the same object.
    q.send(QueueName::Changes, &[msg(&run, &format!("{run}-big-again"), &big)]).await.expect("send again");
    assert_eq!(stack.objects("messages/").await.len(), 1);
    stack.delete().await;
}

#[tokio::test]
async fn a_message_the_queue_never_takes_fails_alone_and_its_batch_mates_are_sent() {
    let stack = Stack::create(MAX_RECEIVES).await;
    // A queue that takes at most 1 KiB a message (SQS's smallest MaximumMessageSize):
    // a 2 KB body is under the claim-check limit, so SQS sees it and refuses it.
    stack
        .c
        .sqs
        .set_queue_attributes()
        .queue_url(&stack.names.writes_queue_url)
        .attributes(QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .expect("set MaximumMessageSize");
    let q = stack.queue();
    let run = unique("run");
    let messages = [
        msg(&format!("{run}-a"), &format!("{run}-1"), "first"),
        msg(&format!("{run}-b"), &format!("{run}-2"), &"x".repeat(2048)),
        msg(&format!("{run}-c"), &format!("{run}-3"), "third"),
        msg(&format!("{run}-d"), "", "no dedup id"),
    ];
    let results = q.send_each(QueueName::Writes, &messages).await.expect("send_each");
    let verdicts: Vec<Option<bool>> = results.iter().map(|r| r.as_ref().map(|e| e.is_retryable())).collect();
    assert_eq!(verdicts, vec![None, Some(false), None, Some(false)], "{results:?}");
    let mut bodies = drain(&q, QueueName::Writes).await;
    bodies.sort();
    assert_eq!(bodies, vec!["first", "third"]);
    let err = q.send(QueueName::Writes, &messages[1..2]).await.expect_err("send reports it");
    assert_eq!(err.category, ErrorCategory::InvalidRequest, "{err}");
    stack.delete().await;
}

#[tokio::test]
async fn a_failure_over_the_item_limit_is_kept_in_the_payload_bucket_until_it_is_deleted() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let i = iid("big-failure");
    let mut f = failure(&i, "7", 0, "the target refused it".into());
    // A long description: in the input snapshot and again in the mapping output.
    f.input
        .snapshot
        .fields
        .insert(ferry_domain::FieldKey::new("description"), ferry_domain::FieldValue::Text(long_text(300 * 1024)));
    f.mapping_output = Some(ferry_domain::WriteCommand {
        schema: MESSAGE_SCHEMA,
        integration: i.clone(),
        flow: Flow::LeftToRight,
        source: f.input.snapshot.clone(),
        target: None,
        changes: Vec::new(),
        mapped: BTreeMap::new(),
        replay: None,
        winner: None,
        collab_only: false,
    });
    store.put_failure(&f).await.expect("put a 600 KB failure");
    assert_eq!(store.get_failure(&f.id).await.expect("get"), Some(f.clone()));
    let by_entity = store.failure_for_entity(&i, Flow::LeftToRight, &EntityId::new("7")).await.expect("by entity");
    assert_eq!(by_entity.as_ref().map(|x| &x.id), Some(&f.id));
    assert_eq!(store.list_failures(Some(&i)).await.expect("list"), vec![f.clone()]);
    let batched = store
        .get_many(&[ferry_domain::ports::StateKey::Failure(i.clone(), Flow::LeftToRight, EntityId::new("7"))])
        .await
        .expect("get_many");
    assert_eq!(batched.len(), 1, "read through the batched path too");
    let first = stack.objects(&format!("failures/{}/", f.id)).await;
    assert_eq!(first.len(), 1, "{first:?}");

    // A newer failure of the entity replaces the record, and its object the old one.
    let mut newer = f.clone();
    newer.cause = "refused again".into();
    newer.attempts = 2;
    store.put_failure(&newer).await.expect("replace");
    let now = stack.objects(&format!("failures/{}/", f.id)).await;
    assert_eq!(now.len(), 1, "the replaced record's object is deleted: {now:?}");
    assert_ne!(now, first);
    assert_eq!(store.get_failure(&f.id).await.expect("get").map(|x| x.cause), Some("refused again".into()));

    store.delete_failure(&f.id).await.expect("delete");
    assert_eq!(store.get_failure(&f.id).await.expect("get"), None);
    assert!(stack.objects("failures/").await.is_empty(), "deleted with its record");
    stack.delete().await;
}

/// A collaboration record of this many comment pairs is over the item limit.
fn huge_collab(comments: usize, tag: &str) -> ferry_domain::CollabState {
    use ferry_domain::{CollabState, CommentPair, Side};
    CollabState {
        comments: (0..comments)
            .map(|n| CommentPair {
                left: format!("{tag}-{n}"),
                right: format!("{n}"),
                original: Side::Left,
                digest: format!("{n:0>64}"),
            })
            .collect(),
        ..CollabState::default()
    }
}

#[tokio::test]
async fn a_collaboration_record_over_the_item_limit_is_kept_in_the_payload_bucket() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let i = iid("big-collab");
    let left = EntityId::new("APP-1");
    let first = huge_collab(4000, "a");
    assert!(serde_json::to_string(&first).expect("json").len() > 400_000, "over a DynamoDB item");
    store.put_collab(&i, &left, &first, None).await.expect("put a record over the item limit");
    assert_eq!(store.get_collab(&i, &left).await.expect("get"), Some((first.clone(), 1)));
    let objects = stack.objects("collab/").await;
    assert_eq!(objects.len(), 1, "{objects:?}");

    // A conditional put that loses leaves no object behind and keeps the winner's.
    let lost = store.put_collab(&i, &left, &huge_collab(4000, "b"), None).await.expect_err("exists");
    assert_eq!(lost.category, ErrorCategory::Conflict, "{lost}");
    assert_eq!(stack.objects("collab/").await, objects, "the loser's object is deleted");

    // A newer record replaces the object; a small one goes back into the item.
    let second = huge_collab(4001, "c");
    store.put_collab(&i, &left, &second, Some(1)).await.expect("replace");
    let now = stack.objects("collab/").await;
    assert_eq!(now.len(), 1, "the replaced record's object is deleted: {now:?}");
    assert_ne!(now, objects);
    assert_eq!(store.get_collab(&i, &left).await.expect("get"), Some((second, 2)));
    let small = huge_collab(2, "d");
    store.put_collab(&i, &left, &small, Some(2)).await.expect("shrink");
    assert_eq!(store.get_collab(&i, &left).await.expect("get"), Some((small, 3)));
    assert!(stack.objects("collab/").await.is_empty(), "an inline record names no object");
    stack.delete().await;
}

/// A backfill plan of `n` entities to create.
fn backfill(i: &IntegrationId, n: usize) -> ferry_domain::BackfillRecord {
    use ferry_domain::{BackfillPlan, BackfillRecord, PairBy, PlannedItem, Side};
    let to_create = (0..n)
        .map(|k| PlannedItem {
            side: Side::Left,
            id: EntityId::new(format!("{}", 100_000 + k)),
            key: format!("APP-{k}"),
        })
        .collect();
    BackfillRecord {
        integration: i.clone(),
        pair_by: PairBy::RemoteId,
        accepted_at: at(0),
        activated_at: Some(at(1)),
        plan: BackfillPlan {
            since: at(-3600),
            to_create,
            to_pair: Vec::new(),
            already_paired: 0,
            ambiguous: Vec::new(),
        },
    }
}

#[tokio::test]
async fn a_backfill_plan_over_the_item_limit_is_kept_in_the_payload_bucket() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = stack.store();
    let i = iid("big-backfill");
    let first = backfill(&i, 12_000);
    assert!(serde_json::to_string(&first).expect("json").len() > 400_000, "over a DynamoDB item");
    store.put_backfill(&first).await.expect("put a plan over the item limit");
    assert_eq!(store.get_backfill(&i).await.expect("get"), Some(first));
    let objects = stack.objects("backfills/").await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    // The next backfill replaces it; a small one goes back into the item.
    let small = backfill(&i, 3);
    store.put_backfill(&small).await.expect("replace");
    assert_eq!(store.get_backfill(&i).await.expect("get"), Some(small));
    assert!(stack.objects("backfills/").await.is_empty(), "the replaced plan's object is deleted");
    stack.delete().await;
}

#[tokio::test]
async fn without_a_payload_bucket_an_oversized_collaboration_record_is_a_store_error_naming_the_pair() {
    let stack = Stack::create(MAX_RECEIVES).await;
    let store = DynamoStore::new(stack.c.dynamo.clone(), &stack.names);
    let i = iid("big-collab");
    let left = EntityId::new("APP-77");
    let err = store.put_collab(&i, &left, &huge_collab(4000, "a"), None).await.expect_err("too large");
    assert_eq!(err.category, ErrorCategory::Store, "{err}");
    assert!(err.message.contains(&format!("{i} APP-77")) && err.message.contains("payload bucket"), "{err}");
    assert_eq!(store.get_collab(&i, &left).await.expect("get"), None, "nothing written");
    stack.delete().await;
}

#[tokio::test]
async fn redrive_moves_every_dead_letter_back_to_a_first_delivery() {
    let stack = Stack::create(1).await;
    let q = stack.queue();
    let run = unique("run");
    let w = QueueName::Writes;
    q.send(
        w,
        &[msg(&format!("{run}-a"), &format!("{run}-1"), "one"), msg(&format!("{run}-b"), &format!("{run}-2"), "two")],
    )
    .await
    .expect("send");
    for d in q.receive(w, 10, Duration::from_secs(30)).await.expect("receive") {
        q.release(w, &d.receipt, Duration::ZERO).await.expect("release");
    }
    assert!(q.receive(w, 10, Duration::from_secs(30)).await.expect("receive").is_empty(), "both dead-lettered");
    let dead = q.dead_letters(w).await.expect("dead letters");
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|d| d.since.is_some()), "{dead:?}");
    assert_eq!(
        q.dead_letter_retention(w).await.expect("retention"),
        Some(Duration::from_secs(345_600)),
        "SQS's default"
    );

    assert_eq!(q.redrive(w).await.expect("redrive"), 2);
    assert!(q.dead_letters(w).await.expect("dead letters").is_empty());
    let mut back = q.receive(w, 10, Duration::from_secs(30)).await.expect("receive");
    back.sort_by(|a, b| a.body.cmp(&b.body));
    let seen: Vec<(&str, u32)> = back.iter().map(|d| (d.body.as_str(), d.receive_count)).collect();
    assert_eq!(seen, vec![("one", 1), ("two", 1)]);
    assert_eq!(q.max_receives(), Some(1));
    stack.delete().await;
}
