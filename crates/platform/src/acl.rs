//! Broker access control for a production Kafka cluster: which principal
//! may do what to which topic and group, derived from the registry and the
//! same topic names the service uses. `cisp-fusion acls` prints them as a
//! `kafka-acls.sh` / `kafka-configs.sh` script (docker/README.md).
//!
//! Member topics are granted as LITERAL names, never as prefixes: a prefix
//! `cisp.submissions.north` would also match member `northbank`'s topic.
//! Consumer-group prefixes end with `.`, which a member id cannot contain,
//! so they cannot collide either.

use std::fmt::Write as _;

use cisp_model::{Registry, Role};

use crate::kafka::KafkaConfig;
use crate::topics::TopicSpec;
use crate::Topics;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Topic,
    Group,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    Literal,
    Prefixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
    Describe,
}

/// One ALLOW rule (everything not allowed is denied:
/// `allow.everyone.if.no.acl.found=false`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    /// The SASL user name (`User:<principal>`).
    pub principal: String,
    pub resource: Resource,
    pub pattern: Pattern,
    pub name: String,
    pub operations: Vec<Operation>,
}

impl Acl {
    /// Whether this rule allows `op` on resource `name` (Kafka's matching).
    pub fn allows(&self, resource: Resource, name: &str, op: Operation) -> bool {
        self.resource == resource
            && self.operations.contains(&op)
            && match self.pattern {
                Pattern::Literal => self.name == name,
                Pattern::Prefixed => name.starts_with(&self.name),
            }
    }
}

/// Every rule for `registry`: each member writes its own submission topic
/// and reads its own alert topic with groups named `<member>.…`; members
/// with the fusion-cell role also read campaigns and dead letters and
/// write (and read) decisions; the service (`service_user`) reads every
/// submission topic and the decisions and writes every output topic (and
/// decisions, for the query API) with its own group.
pub fn acls(
    topics: &Topics,
    registry: &Registry,
    service_user: &str,
    service_group: &str,
) -> Vec<Acl> {
    use Operation::*;
    let acl = |principal: &str, resource, pattern, name: String, operations: &[Operation]| Acl {
        principal: principal.to_owned(),
        resource,
        pattern,
        name,
        operations: operations.to_vec(),
    };
    let mut out = Vec::new();
    let prefix = |kind: &str| format!("{}.{kind}.", topics.prefix());
    out.push(acl(
        service_user,
        Resource::Topic,
        Pattern::Prefixed,
        prefix("submissions"),
        &[Read, Describe],
    ));
    out.push(acl(
        service_user,
        Resource::Topic,
        Pattern::Prefixed,
        prefix("alerts"),
        &[Write, Describe],
    ));
    out.push(acl(
        service_user,
        Resource::Topic,
        Pattern::Literal,
        topics.dead_letter(),
        &[Write, Describe],
    ));
    out.push(acl(
        service_user,
        Resource::Topic,
        Pattern::Literal,
        topics.campaigns(),
        &[Write, Describe],
    ));
    out.push(acl(
        service_user,
        Resource::Topic,
        Pattern::Literal,
        topics.decisions(),
        &[Read, Write, Describe],
    ));
    out.push(acl(
        service_user,
        Resource::Group,
        Pattern::Literal,
        service_group.to_owned(),
        &[Read, Describe],
    ));
    for m in registry.members() {
        let id = m.id.as_str();
        out.push(acl(
            id,
            Resource::Topic,
            Pattern::Literal,
            topics.submissions(&m.id),
            &[Write, Describe],
        ));
        out.push(acl(
            id,
            Resource::Topic,
            Pattern::Literal,
            topics.alerts(&m.id),
            &[Read, Describe],
        ));
        out.push(acl(
            id,
            Resource::Group,
            Pattern::Prefixed,
            member_group_prefix(id),
            &[Read, Describe],
        ));
        if m.role == Role::FusionCell {
            out.push(acl(
                id,
                Resource::Topic,
                Pattern::Literal,
                topics.campaigns(),
                &[Read, Describe],
            ));
            out.push(acl(
                id,
                Resource::Topic,
                Pattern::Literal,
                topics.dead_letter(),
                &[Read, Describe],
            ));
            // Its decisions (issue 22), and the log of them.
            out.push(acl(
                id,
                Resource::Topic,
                Pattern::Literal,
                topics.decisions(),
                &[Read, Write, Describe],
            ));
        }
    }
    out
}

/// The intake gateway (`services/intake`): it writes every member's
/// submission topic (on behalf of the member its API key proves) and reads
/// every member's alert topic (for that member's TAXII collection, by
/// assignment under [`INTAKE_GROUP`]). It never reads submissions or
/// writes alerts.
/// The consumer group intake names when it reads alert topics.
pub const INTAKE_GROUP: &str = "cisp-intake-taxii";

/// The prefix of every consumer group member `member` may use (its ACLs
/// grant `<id>.` prefixed; `.` cannot occur in an id, so one member's
/// prefix never covers another's groups).
pub fn member_group_prefix(member: &str) -> String {
    format!("{member}.")
}

/// A consumer group of member `member` for `purpose` (its own reader, a
/// tool's): inside the namespace its ACLs grant.
pub fn member_group(member: &str, purpose: &str) -> String {
    format!("{}{purpose}", member_group_prefix(member))
}

pub fn intake_acls(topics: &Topics, intake_user: &str) -> Vec<Acl> {
    use Operation::*;
    let prefix = |kind: &str| format!("{}.{kind}.", topics.prefix());
    vec![
        Acl {
            principal: intake_user.to_owned(),
            resource: Resource::Topic,
            pattern: Pattern::Prefixed,
            name: prefix("submissions"),
            operations: vec![Write, Describe],
        },
        Acl {
            principal: intake_user.to_owned(),
            resource: Resource::Topic,
            pattern: Pattern::Prefixed,
            name: prefix("alerts"),
            operations: vec![Read, Describe],
        },
        Acl {
            principal: intake_user.to_owned(),
            resource: Resource::Group,
            pattern: Pattern::Literal,
            name: INTAKE_GROUP.to_owned(),
            operations: vec![Read, Describe],
        },
    ]
}

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Resource::Topic => "topic",
            Resource::Group => "group",
        }
    }
}

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Pattern::Literal => "literal",
            Pattern::Prefixed => "prefixed",
        }
    }
}

impl Operation {
    /// Kafka's name of the operation (`kafka-acls.sh --operation`, the
    /// Admin API's `AclOperation`).
    fn name(self) -> &'static str {
        match self {
            Operation::Read => "Read",
            Operation::Write => "Write",
            Operation::Describe => "Describe",
        }
    }
}

/// Everything a broker needs for one registry: the SCRAM users, the topics
/// with their configs, the ACLs. Both output formats are made from it, so
/// the production script and the local stack apply the same rules.
pub struct Provisioning {
    pub rules: Vec<Acl>,
    pub topics: Vec<TopicSpec>,
    pub partitions: i32,
    /// The service's payload limit (`kafka.max_message_bytes`): topics get
    /// `max.message.bytes` from it ([`TopicSpec::configs`]).
    pub max_message_bytes: usize,
}

impl Provisioning {
    /// What `kafka`'s prefix needs for `registry`: the members' rules, the
    /// service's (as `service_user`, with the configured group) and
    /// intake's (as `intake_user`), every topic, the configured partitions
    /// and record-size limit.
    pub fn for_config(
        kafka: &KafkaConfig,
        registry: &Registry,
        service_user: &str,
        intake_user: &str,
    ) -> Provisioning {
        let topics = Topics::new(&kafka.topic_prefix);
        let mut rules = acls(&topics, registry, service_user, &kafka.group_id);
        rules.extend(intake_acls(&topics, intake_user));
        Provisioning {
            rules,
            topics: topics.all(registry),
            partitions: kafka.partitions,
            max_message_bytes: kafka.max_message_bytes,
        }
    }

    /// Every principal the rules name, sorted, once.
    pub fn users(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self.rules.iter().map(|r| r.principal.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// A POSIX shell script with Kafka's own tools (`kafka-configs.sh`,
    /// `kafka-topics.sh`, `kafka-acls.sh`) that creates every SCRAM user
    /// (password read from `$CREDENTIALS_DIR/<user>`, never printed), every
    /// topic and every ACL. Expects `BOOTSTRAP` and `ADMIN_CONFIG` (a client
    /// properties file for a super user) in the environment.
    pub fn script(&self) -> String {
        let mut s = String::from(
            "#!/bin/sh\n\
             # Generated by `cisp-fusion acls`: SCRAM users and ACLs for the registry.\n\
             set -eu\n\
             : \"${BOOTSTRAP:?set BOOTSTRAP to host:port}\" \"${ADMIN_CONFIG:?set ADMIN_CONFIG to a super user's client properties}\"\n\
             : \"${CREDENTIALS_DIR:?set CREDENTIALS_DIR to the folder of password files}\"\n\
             KAFKA_BIN=\"${KAFKA_BIN:-/opt/kafka/bin}\"\n",
        );
        let users = self.users();
        for u in &users {
            let _ = writeln!(
                s,
                "\"$KAFKA_BIN/kafka-configs.sh\" --bootstrap-server \"$BOOTSTRAP\" --command-config \"$ADMIN_CONFIG\" \
                 --alter --entity-type users --entity-name '{u}' \
                 --add-config \"SCRAM-SHA-512=[iterations=8192,password=$(cat \"$CREDENTIALS_DIR/{u}\")]\" >/dev/null"
            );
        }
        for t in &self.topics {
            let configs: String = t
                .configs(self.max_message_bytes)
                .iter()
                .map(|(k, v)| format!(" --config {k}={v}"))
                .collect();
            let _ = writeln!(
                s,
                "\"$KAFKA_BIN/kafka-topics.sh\" --bootstrap-server \"$BOOTSTRAP\" --command-config \"$ADMIN_CONFIG\" \
                 --create --if-not-exists --topic '{}' --partitions {}{configs} >/dev/null",
                t.name, self.partitions
            );
        }
        for r in &self.rules {
            let ops: String = r
                .operations
                .iter()
                .map(|o| format!(" --operation {}", o.name()))
                .collect();
            let _ = writeln!(
                s,
                "\"$KAFKA_BIN/kafka-acls.sh\" --bootstrap-server \"$BOOTSTRAP\" --command-config \"$ADMIN_CONFIG\" \
                 --add --allow-principal 'User:{}' --{} '{}' --resource-pattern-type {}{ops} >/dev/null",
                r.principal,
                r.resource.name(),
                r.name,
                r.pattern.name()
            );
        }
        let _ = writeln!(
            s,
            "echo \"{} users, {} topics, {} ACLs in place\"",
            users.len(),
            self.topics.len(),
            self.rules.len()
        );
        s
    }

    /// The same as a plan for the local stack's admin tool
    /// (`scripts/stack/kafka-admin.sh apply`, Kafka's Admin API in one
    /// process instead of one JVM per rule): `user NAME`, `topic NAME
    /// PARTITIONS KEY=VALUE…`, `acl PRINCIPAL RESOURCE PATTERN NAME OPS`.
    /// Names are member ids and topic names, which hold no white space.
    /// `users`: include the `user` lines (each user then needs a password
    /// file where the plan is applied).
    pub fn plan(&self, users: bool) -> String {
        let mut s = String::from("# Generated by `cisp-fusion acls --format plan`.\n");
        if users {
            for u in self.users() {
                let _ = writeln!(s, "user {u}");
            }
        }
        for t in &self.topics {
            let configs: String = t
                .configs(self.max_message_bytes)
                .iter()
                .map(|(k, v)| format!(" {k}={v}"))
                .collect();
            let _ = writeln!(s, "topic {} {}{configs}", t.name, self.partitions);
        }
        for r in &self.rules {
            let ops: Vec<&str> = r.operations.iter().map(|o| o.name()).collect();
            let _ = writeln!(
                s,
                "acl {} {} {} {} {}",
                r.principal,
                r.resource.name(),
                r.pattern.name(),
                r.name,
                ops.join(",")
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use cisp_model::MemberId;

    const REGISTRY: &str = r#"
[[member]]
id = "fusion-cell"
name = "Fusion Cell"
sector = "government"
role = "fusion-cell"

[[member]]
id = "north"
name = "North"
sector = "finance"
role = "member"

[[member]]
id = "northbank"
name = "Northbank"
sector = "finance"
role = "member"
"#;

    fn rules() -> (Topics, Registry, Vec<Acl>) {
        let topics = Topics::new("cisp");
        let reg = Registry::from_toml_str(REGISTRY).unwrap();
        let rules = acls(&topics, &reg, "cisp-fusion", "cisp-fusion");
        (topics, reg, rules)
    }

    #[test]
    fn the_intake_gateway_writes_submissions_and_reads_alerts_only() {
        let (t, reg, _) = rules();
        let rules = intake_acls(&t, "cisp-intake");
        for m in reg.members() {
            let (sub, alerts) = (t.submissions(&m.id), t.alerts(&m.id));
            assert!(allowed(
                &rules,
                "cisp-intake",
                Resource::Topic,
                &sub,
                Operation::Write
            ));
            assert!(!allowed(
                &rules,
                "cisp-intake",
                Resource::Topic,
                &sub,
                Operation::Read
            ));
            assert!(allowed(
                &rules,
                "cisp-intake",
                Resource::Topic,
                &alerts,
                Operation::Read
            ));
            assert!(!allowed(
                &rules,
                "cisp-intake",
                Resource::Topic,
                &alerts,
                Operation::Write
            ));
        }
        for other in [t.campaigns(), t.dead_letter()] {
            for op in [Operation::Read, Operation::Write] {
                assert!(
                    !allowed(&rules, "cisp-intake", Resource::Topic, &other, op),
                    "{other}"
                );
            }
        }
    }

    fn allowed(rules: &[Acl], who: &str, res: Resource, name: &str, op: Operation) -> bool {
        rules
            .iter()
            .any(|r| r.principal == who && r.allows(res, name, op))
    }

    #[test]
    fn members_reach_only_their_own_topics_even_when_one_id_prefixes_another() {
        let (t, reg, rules) = rules();
        for m in reg.members() {
            for other in reg.members() {
                let own = m.id == other.id;
                let sub = t.submissions(&other.id);
                let alerts = t.alerts(&other.id);
                let who = m.id.as_str();
                assert_eq!(
                    allowed(&rules, who, Resource::Topic, &sub, Operation::Write),
                    own,
                    "{who} → {sub}"
                );
                assert!(
                    !allowed(&rules, who, Resource::Topic, &sub, Operation::Read),
                    "{who} reads {sub}"
                );
                assert_eq!(
                    allowed(&rules, who, Resource::Topic, &alerts, Operation::Read),
                    own,
                    "{who} → {alerts}"
                );
                assert!(!allowed(
                    &rules,
                    who,
                    Resource::Topic,
                    &alerts,
                    Operation::Write
                ));
                // Groups: "north." does not cover "northbank.x".
                let group = format!("{}.reader", other.id);
                assert_eq!(
                    allowed(&rules, who, Resource::Group, &group, Operation::Read),
                    own
                );
            }
        }
    }

    #[test]
    fn only_the_fusion_cell_and_the_service_write_decisions() {
        let (t, reg, rules) = rules();
        let d = t.decisions();
        for m in reg.members() {
            let fc = m.role == Role::FusionCell;
            for op in [Operation::Write, Operation::Read] {
                assert_eq!(
                    allowed(&rules, m.id.as_str(), Resource::Topic, &d, op),
                    fc,
                    "{} {op:?}",
                    m.id
                );
            }
        }
        for op in [Operation::Write, Operation::Read] {
            assert!(allowed(&rules, "cisp-fusion", Resource::Topic, &d, op));
        }
    }

    #[test]
    fn only_the_fusion_cell_reads_campaigns_and_dead_letters_and_only_the_service_writes_them() {
        let (t, reg, rules) = rules();
        for m in reg.members() {
            let fc = m.role == Role::FusionCell;
            for topic in [t.campaigns(), t.dead_letter()] {
                assert_eq!(
                    allowed(
                        &rules,
                        m.id.as_str(),
                        Resource::Topic,
                        &topic,
                        Operation::Read
                    ),
                    fc
                );
                assert!(!allowed(
                    &rules,
                    m.id.as_str(),
                    Resource::Topic,
                    &topic,
                    Operation::Write
                ));
                assert!(allowed(
                    &rules,
                    "cisp-fusion",
                    Resource::Topic,
                    &topic,
                    Operation::Write
                ));
            }
        }
        let nb = MemberId::parse("northbank").unwrap();
        assert!(allowed(
            &rules,
            "cisp-fusion",
            Resource::Topic,
            &t.submissions(&nb),
            Operation::Read
        ));
        assert!(!allowed(
            &rules,
            "cisp-fusion",
            Resource::Topic,
            &t.submissions(&nb),
            Operation::Write
        ));
        assert!(allowed(
            &rules,
            "cisp-fusion",
            Resource::Topic,
            &t.alerts(&nb),
            Operation::Write
        ));
    }

    /// The test registry's provisioning with `partitions` and a payload
    /// limit of `max_message_bytes`.
    fn provisioning(partitions: i32, max_message_bytes: usize) -> Provisioning {
        let (t, reg, rules) = rules();
        Provisioning {
            rules,
            topics: t.all(&reg),
            partitions,
            max_message_bytes,
        }
    }

    #[test]
    fn the_script_never_contains_a_password_and_quotes_every_name() {
        let s = provisioning(3, 1_048_576).script();
        assert!(s.contains(
            "--topic 'cisp.campaigns' --partitions 3 --config max.message.bytes=1114112 --config cleanup.policy=compact"
        ));
        assert!(s.contains("$(cat \"$CREDENTIALS_DIR/northbank\")"));
        assert!(s.contains("--topic 'cisp.submissions.northbank' --resource-pattern-type literal"));
        assert!(s.contains("--group 'north.' --resource-pattern-type prefixed"));
        assert!(!s.contains("--topic 'cisp.submissions.north' --resource-pattern-type prefixed"));
    }

    #[test]
    fn the_plan_states_the_same_rules_one_per_line_without_passwords() {
        let p = provisioning(2, 2048);
        let rule_count = p.rules.len();
        let plan = p.plan(true);
        let acl_lines = plan.lines().filter(|l| l.starts_with("acl ")).count();
        assert_eq!(acl_lines, rule_count);
        assert!(plan.contains("\nuser northbank\n"));
        assert!(plan.contains("\nuser cisp-fusion\n"));
        assert!(plan
            .contains("\ntopic cisp.campaigns 2 max.message.bytes=67584 cleanup.policy=compact\n"));
        assert!(plan.contains("\ntopic cisp.submissions.north 2 max.message.bytes=67584\n"));
        assert!(plan
            .contains("\nacl northbank topic literal cisp.submissions.northbank Write,Describe\n"));
        assert!(plan.contains("\nacl north group prefixed north. Read,Describe\n"));
        assert!(plan.contains("\nacl cisp-fusion topic prefixed cisp.submissions. Read,Describe\n"));
        assert!(!plan.contains("password"));
        // Without users: the same topics and ACLs, no `user` line.
        let bare = p.plan(false);
        assert!(!bare.lines().any(|l| l.starts_with("user ")));
        let others = |t: &str| t.lines().filter(|l| !l.starts_with("user ")).count();
        assert_eq!(others(&bare), others(&plan));
    }
}
