//! The real broker enforces what `cisp-fusion acls` derives from the
//! registry: a member writes only its own submission topic and reads only
//! its own alert topic (with its own consumer groups); only the Fusion Cell
//! reads campaigns and dead letters; the fusion service and intake can do
//! exactly what their rules grant; a wrong password and an unknown user are
//! refused. Every row states both what is allowed and what is refused, so
//! withholding the ACLs (everything refused) or opening the broker
//! (everything allowed) fails this file.

#![allow(clippy::unwrap_used)] // tests may panic: that is how they fail

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cisp_fusion::Topics;
use cisp_model::MemberId;
use cisp_testkit::{read_password, TestEnv};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

const DENIED: Result<(), RDKafkaErrorCode> = Err(RDKafkaErrorCode::TopicAuthorizationFailed);
const OK: Result<(), RDKafkaErrorCode> = Ok(());

fn member(id: &str) -> MemberId {
    MemberId::parse(id).unwrap()
}

fn client(env: &TestEnv, user: &str) -> ClientConfig {
    env.client_as(user, &read_password(user))
}

/// Publishes one record to `topic` as `user`: Ok, or the broker's refusal.
async fn write(env: &TestEnv, user: &str, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let producer: FutureProducer = client(env, user)
        .set("message.timeout.ms", "15000")
        .create()
        .unwrap();
    let sent = producer
        .send(
            FutureRecord::to(topic).key("acl-test").payload("probe"),
            Duration::from_secs(20),
        )
        .await;
    match sent {
        Ok(_) => Ok(()),
        Err((KafkaError::MessageProduction(code), _)) => Err(code),
        Err((e, _)) => panic!("{user} → {topic}: unexpected {e}"),
    }
}

/// Reads `topic` from the beginning as `user`, in a group its ACLs grant
/// (so that a refused read is the topic's refusal), the way its consumer
/// would: Ok once a record arrives, or the broker's refusal.
fn read(env: &TestEnv, user: &str, topic: &str) -> Result<(), RDKafkaErrorCode> {
    read_in_group(env, user, &env.reader_group(user), topic)
}

fn poll_first<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    what: &str,
) -> Result<(), RDKafkaErrorCode> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                assert_eq!(m.payload(), Some(&b"probe"[..]), "{what}");
                return Ok(());
            }
            Some(Err(KafkaError::MessageConsumption(code))) => return Err(code),
            Some(Err(e)) => panic!("{what}: unexpected {e}"),
            None => {}
        }
    }
    panic!("{what}: neither a record nor a refusal within 20 s");
}

/// Joins consumer group `group` on `topic` as `user` (subscribe, the way a
/// member's own consumer reads its alerts). librdkafka reports a refused
/// topic or group as a consumer error from poll.
fn read_in_group(
    env: &TestEnv,
    user: &str,
    group: &str,
    topic: &str,
) -> Result<(), RDKafkaErrorCode> {
    let consumer: BaseConsumer = client(env, user)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    poll_first(&consumer, &format!("{user} ({group}) ← {topic}"))
}

/// Every record was written where it could be read: the alert topics and
/// the Fusion Cell's topics hold one record from the service, the
/// submission topics one from their member.
async fn seed(env: &TestEnv, t: &Topics) {
    for topic in [
        t.alerts(&member("northbank")),
        t.alerts(&member("gridco")),
        t.campaigns(),
        t.dead_letter(),
    ] {
        assert_eq!(
            write(env, "cisp-fusion", &topic).await,
            OK,
            "cisp-fusion → {topic}"
        );
    }
    for m in ["northbank", "gridco"] {
        let topic = t.submissions(&member(m));
        assert_eq!(write(env, m, &topic).await, OK, "{m} → {topic}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_principal_writes_exactly_what_its_acls_grant() {
    let env = TestEnv::new();
    let t = Topics::new(env.prefix());
    let nb_sub = t.submissions(&member("northbank"));
    let gc_sub = t.submissions(&member("gridco"));
    let nb_alerts = t.alerts(&member("northbank"));
    let rows: Vec<(&str, String, Result<(), RDKafkaErrorCode>)> = vec![
        // A member: its own submission topic, nothing else.
        ("northbank", nb_sub.clone(), OK),
        ("northbank", gc_sub.clone(), DENIED),
        ("northbank", nb_alerts.clone(), DENIED),
        ("northbank", t.campaigns(), DENIED),
        ("northbank", t.dead_letter(), DENIED),
        // The Fusion Cell member reads its topics but never writes them.
        ("fusion-cell", t.campaigns(), DENIED),
        ("fusion-cell", nb_sub.clone(), DENIED),
        // The service writes outputs only: it cannot forge a submission.
        ("cisp-fusion", nb_alerts.clone(), OK),
        ("cisp-fusion", t.campaigns(), OK),
        ("cisp-fusion", t.dead_letter(), OK),
        ("cisp-fusion", nb_sub.clone(), DENIED),
        // Intake writes submissions on a member's behalf, nothing else.
        ("cisp-intake", nb_sub.clone(), OK),
        ("cisp-intake", nb_alerts.clone(), DENIED),
        ("cisp-intake", t.campaigns(), DENIED),
        ("cisp-intake", t.dead_letter(), DENIED),
    ];
    let mut wrong = Vec::new();
    for (user, topic, expected) in &rows {
        let got = write(&env, user, topic).await;
        if got != *expected {
            wrong.push(format!(
                "{user} → {topic}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_principal_reads_exactly_what_its_acls_grant() {
    let env = TestEnv::new();
    let t = Topics::new(env.prefix());
    seed(&env, &t).await;
    let nb_sub = t.submissions(&member("northbank"));
    let nb_alerts = t.alerts(&member("northbank"));
    let gc_alerts = t.alerts(&member("gridco"));
    let rows: Vec<(&str, String, Result<(), RDKafkaErrorCode>)> = vec![
        // A member: its own alerts only; not even its own submissions back.
        ("northbank", nb_alerts.clone(), OK),
        ("northbank", gc_alerts.clone(), DENIED),
        ("northbank", nb_sub.clone(), DENIED),
        ("northbank", t.campaigns(), DENIED),
        ("northbank", t.dead_letter(), DENIED),
        ("gridco", gc_alerts.clone(), OK),
        ("gridco", nb_alerts.clone(), DENIED),
        // The Fusion Cell sees the whole picture.
        ("fusion-cell", t.campaigns(), OK),
        ("fusion-cell", t.dead_letter(), OK),
        ("fusion-cell", nb_alerts.clone(), DENIED),
        // The service reads submissions, never what it sent a member.
        ("cisp-fusion", nb_sub.clone(), OK),
        ("cisp-fusion", nb_alerts.clone(), DENIED),
        // Intake reads alerts (TAXII), never submissions or campaigns.
        ("cisp-intake", nb_alerts.clone(), OK),
        ("cisp-intake", nb_sub.clone(), DENIED),
        ("cisp-intake", t.campaigns(), DENIED),
    ];
    let mut wrong = Vec::new();
    for (user, topic, expected) in &rows {
        let (env, user2, topic2) = (&env, *user, topic.clone());
        let got = tokio::task::block_in_place(|| read(env, user2, &topic2));
        if got != *expected {
            wrong.push(format!(
                "{user} ← {topic}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Consumer groups: a member's own (`<id>.…`), never another's, even
    // when one id starts like another.
    let group_rows = [
        (
            "northbank",
            "northbank.alerts-reader",
            nb_alerts.clone(),
            OK,
        ),
        (
            "northbank",
            "gridco.alerts-reader",
            nb_alerts.clone(),
            Err(RDKafkaErrorCode::GroupAuthorizationFailed),
        ),
        (
            "northbank",
            "anything",
            nb_alerts.clone(),
            Err(RDKafkaErrorCode::GroupAuthorizationFailed),
        ),
    ];
    for (user, group, topic, expected) in group_rows {
        let got = tokio::task::block_in_place(|| read_in_group(&env, user, group, &topic));
        assert_eq!(got, expected, "{user} in group {group} ← {topic}");
    }
}

/// Collects the client's error callbacks (librdkafka reports a refused
/// login there).
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.lock().unwrap().push(format!("{error}: {reason}"));
    }
}
impl ConsumerContext for Errors {}

/// Asks for metadata as `user` with `password`: Ok, or the errors seen.
fn login(env: &TestEnv, user: &str, password: &str) -> Result<(), Vec<String>> {
    let errors = Errors::default();
    let consumer: BaseConsumer<Errors> = env
        .client_as(user, password)
        .create_with_context(errors.clone())
        .unwrap();
    match consumer.fetch_metadata(None, Duration::from_secs(10)) {
        Ok(_) => Ok(()),
        Err(e) => {
            // The error callbacks run from poll.
            for _ in 0..10 {
                let _ = consumer.poll(Duration::from_millis(100));
            }
            let mut seen = errors.0.lock().unwrap().clone();
            seen.push(e.to_string());
            Err(seen)
        }
    }
}

#[test]
fn a_wrong_password_and_an_unknown_user_are_refused() {
    let env = TestEnv::new();
    let own = read_password("northbank");
    assert_eq!(login(&env, "northbank", &own), Ok(()));
    for (user, password) in [
        ("northbank", format!("{own}x")),
        ("northbank", read_password("gridco")),
        ("mallory", own.clone()),
    ] {
        let errors = login(&env, user, &password).expect_err(user);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("Authentication failed") || e.contains("invalid credentials")),
            "{user}: refused, but not as a failed login: {errors:?}"
        );
    }
}
