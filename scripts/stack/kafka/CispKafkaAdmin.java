// Applies a provisioning plan to a Kafka cluster through Kafka's own Admin
// API: SCRAM users, topics with their configs, and ACLs. The Rust `rdkafka`
// crate has no ACL or SCRAM API, so the local stack and the tests use this;
// the plan itself is derived from the registry by `cisp-fusion acls
// --format plan`, the same rules the production script is made from.
//
// Usage (scripts/stack/kafka-admin.sh sets the classpath and credentials):
//   CispKafkaAdmin ping                     cluster reachable as the admin?
//   CispKafkaAdmin apply [--reset-passwords] < PLAN
//   CispKafkaAdmin list-acls [PRINCIPAL]
//
// Plan lines (one directive a line; '#' starts a comment):
//   user NAME                                    SCRAM-SHA-512; password from $CISP_CREDENTIALS_DIR/NAME
//   topic NAME PARTITIONS [KEY=VALUE ...]         created if missing; configs set either way
//   acl PRINCIPAL topic|group|cluster literal|prefixed NAME OP[,OP...]   ALLOW from any host
//
// Environment: CISP_KAFKA_BOOTSTRAP (host:port), CISP_KAFKA_ADMIN_USER,
// CISP_KAFKA_ADMIN_PASSWORD_FILE, CISP_CREDENTIALS_DIR. Passwords are read
// from files and never printed.
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

public final class CispKafkaAdmin {
    private static final int SCRAM_ITERATIONS = 8192;
    private static final long TIMEOUT_S = 60;
    // A plan is a few lines per member: anything far larger is a mistake.
    private static final int MAX_PLAN_LINES = 1_000_000;

    private record TopicLine(String name, int partitions, Map<String, String> configs) {}

    private static final class Plan {
        final List<String> users = new ArrayList<>();
        final List<TopicLine> topics = new ArrayList<>();
        final List<AclBinding> acls = new ArrayList<>();
    }

    public static void main(String[] args) {
        if (args.length == 0) {
            fail("usage: CispKafkaAdmin ping | apply [--reset-passwords] < PLAN | list-acls [PRINCIPAL]");
        }
        try (Admin admin = Admin.create(clientProperties())) {
            switch (args[0]) {
                case "ping" -> {
                    int nodes = admin.describeCluster().nodes().get(TIMEOUT_S, TimeUnit.SECONDS).size();
                    System.out.println("kafka: " + nodes + " node(s), authenticated as " + env("CISP_KAFKA_ADMIN_USER"));
                }
                case "apply" -> {
                    boolean reset = args.length > 1 && args[1].equals("--reset-passwords");
                    apply(admin, readPlan(), reset);
                }
                case "list-acls" -> listAcls(admin, args.length > 1 ? args[1] : null);
                default -> fail("unknown command " + args[0]);
            }
        } catch (ExecutionException e) {
            fail(e.getCause() == null ? e.toString() : e.getCause().getClass().getSimpleName() + ": " + e.getCause().getMessage());
        } catch (Exception e) {
            fail(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    private static void fail(String message) {
        System.err.println("kafka-admin: error: " + message);
        System.exit(1);
    }

    private static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            fail(name + " is not set");
        }
        return v;
    }

    private static String secret(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("password file " + file + " is missing");
        }
        String s = Files.readString(file, StandardCharsets.UTF_8).trim();
        if (s.isEmpty() || s.contains("\"") || s.contains("\\") || s.contains(",")) {
            throw new IOException("password file " + file + " is empty or holds a character SCRAM set-up cannot carry (\" \\ ,)");
        }
        return s;
    }

    private static Properties clientProperties() throws IOException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, env("CISP_KAFKA_BOOTSTRAP"));
        p.put(AdminClientConfig.SECURITY_PROTOCOL_CONFIG, System.getenv().getOrDefault("CISP_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"));
        p.put("sasl.mechanism", "SCRAM-SHA-512");
        p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + env("CISP_KAFKA_ADMIN_USER") + "\" password=\"" + secret(Path.of(env("CISP_KAFKA_ADMIN_PASSWORD_FILE"))) + "\";");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        return p;
    }

    private static Plan readPlan() throws IOException {
        Plan plan = new Plan();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        int n = 0;
        while ((line = in.readLine()) != null) {
            if (++n > MAX_PLAN_LINES) {
                throw new IOException("plan longer than " + MAX_PLAN_LINES + " lines");
            }
            int hash = line.indexOf('#');
            String[] w = (hash >= 0 ? line.substring(0, hash) : line).trim().split("\\s+");
            if (w.length == 0 || w[0].isEmpty()) {
                continue;
            }
            try {
                switch (w[0]) {
                    case "user" -> {
                        need(w, 2);
                        plan.users.add(w[1]);
                    }
                    case "topic" -> {
                        if (w.length < 3) {
                            throw new IllegalArgumentException("topic NAME PARTITIONS [KEY=VALUE ...]");
                        }
                        Map<String, String> configs = new LinkedHashMap<>();
                        for (int i = 3; i < w.length; i++) {
                            int eq = w[i].indexOf('=');
                            if (eq <= 0) {
                                throw new IllegalArgumentException("config " + w[i] + " is not KEY=VALUE");
                            }
                            configs.put(w[i].substring(0, eq), w[i].substring(eq + 1));
                        }
                        plan.topics.add(new TopicLine(w[1], Integer.parseInt(w[2]), configs));
                    }
                    case "acl" -> {
                        need(w, 6);
                        ResourceType type = switch (w[2]) {
                            case "topic" -> ResourceType.TOPIC;
                            case "group" -> ResourceType.GROUP;
                            case "cluster" -> ResourceType.CLUSTER;
                            default -> throw new IllegalArgumentException("resource " + w[2]);
                        };
                        PatternType pattern = switch (w[3]) {
                            case "literal" -> PatternType.LITERAL;
                            case "prefixed" -> PatternType.PREFIXED;
                            default -> throw new IllegalArgumentException("pattern " + w[3]);
                        };
                        for (String op : w[5].split(",")) {
                            plan.acls.add(new AclBinding(new ResourcePattern(type, w[4], pattern),
                                    new AccessControlEntry("User:" + w[1], "*", AclOperation.fromString(op), AclPermissionType.ALLOW)));
                        }
                    }
                    default -> throw new IllegalArgumentException("unknown directive " + w[0]);
                }
            } catch (IllegalArgumentException e) {
                throw new IOException("plan line " + n + ": " + e.getMessage());
            }
        }
        return plan;
    }

    private static void need(String[] w, int count) {
        if (w.length != count) {
            throw new IllegalArgumentException(w[0] + " takes " + (count - 1) + " field(s)");
        }
    }

    private static void apply(Admin admin, Plan plan, boolean resetPasswords) throws Exception {
        // Users: existing ones keep their credential unless asked (a reset
        // changes the salt; clients with the same password still log in).
        int usersCreated = 0;
        if (!plan.users.isEmpty()) {
            Set<String> existing = admin.describeUserScramCredentials().all().get(TIMEOUT_S, TimeUnit.SECONDS).keySet();
            Path dir = Path.of(env("CISP_CREDENTIALS_DIR"));
            List<UserScramCredentialAlteration> upserts = new ArrayList<>();
            for (String user : plan.users) {
                if (resetPasswords || !existing.contains(user)) {
                    upserts.add(new UserScramCredentialUpsertion(user,
                            new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), secret(dir.resolve(user))));
                }
            }
            if (!upserts.isEmpty()) {
                admin.alterUserScramCredentials(upserts).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            }
            usersCreated = upserts.size();
        }

        // Topics: create what is missing; set the plan's configs on all.
        Set<String> present = admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS);
        List<NewTopic> create = new ArrayList<>();
        Map<ConfigResource, Collection<AlterConfigOp>> alter = new HashMap<>();
        for (TopicLine t : plan.topics) {
            if (!present.contains(t.name())) {
                create.add(new NewTopic(t.name(), t.partitions(), (short) 1).configs(t.configs()));
            } else if (!t.configs().isEmpty()) {
                List<AlterConfigOp> ops = new ArrayList<>();
                t.configs().forEach((k, v) -> ops.add(new AlterConfigOp(new ConfigEntry(k, v), AlterConfigOp.OpType.SET)));
                alter.put(new ConfigResource(ConfigResource.Type.TOPIC, t.name()), ops);
            }
        }
        int topicsCreated = 0;
        if (!create.isEmpty()) {
            for (var e : admin.createTopics(create).values().entrySet()) {
                try {
                    e.getValue().get(TIMEOUT_S, TimeUnit.SECONDS);
                    topicsCreated++;
                } catch (ExecutionException ex) {
                    if (!(ex.getCause() instanceof TopicExistsException)) {
                        throw new IOException("cannot create topic " + e.getKey() + ": " + ex.getCause().getMessage());
                    }
                }
            }
        }
        if (!alter.isEmpty()) {
            admin.incrementalAlterConfigs(alter).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        }

        // ACLs: creating a binding that exists is a no-op in Kafka.
        if (!plan.acls.isEmpty()) {
            admin.createAcls(plan.acls).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        }
        awaitVisible(admin, plan);
        System.out.println("kafka: users " + usersCreated + " set of " + plan.users.size()
                + ", topics " + topicsCreated + " created of " + plan.topics.size()
                + ", " + plan.acls.size() + " ACL bindings in place");
    }

    // The controller has committed the changes when the calls above return;
    // the broker applies them from the metadata log a moment later. Return
    // only once the broker answers with all of them, so a client started
    // right after is authorised (and finds its topics) on its first try.
    private static void awaitVisible(Admin admin, Plan plan) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        Set<String> names = new java.util.HashSet<>();
        plan.topics.forEach(t -> names.add(t.name()));
        Set<AclBinding> wanted = new java.util.HashSet<>(plan.acls);
        while (true) {
            boolean topicsReady = admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).containsAll(names);
            boolean aclsReady = wanted.isEmpty()
                    || admin.describeAcls(AclBindingFilter.ANY).values().get(TIMEOUT_S, TimeUnit.SECONDS).containsAll(wanted);
            if (topicsReady && aclsReady) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("the broker did not show the new " + (topicsReady ? "ACLs" : "topics") + " within " + TIMEOUT_S + " s");
            }
            Thread.sleep(50);
        }
    }

    private static void listAcls(Admin admin, String principal) throws Exception {
        AclBindingFilter filter = new AclBindingFilter(ResourcePatternFilter.ANY,
                new AccessControlEntryFilter(principal == null ? null : "User:" + principal, null, AclOperation.ANY, AclPermissionType.ANY));
        List<String> lines = new ArrayList<>();
        for (AclBinding b : admin.describeAcls(filter).values().get(TIMEOUT_S, TimeUnit.SECONDS)) {
            lines.add(b.entry().principal() + " " + b.entry().permissionType() + " " + b.entry().operation() + " "
                    + b.pattern().resourceType() + " " + b.pattern().patternType() + " " + b.pattern().name());
        }
        lines.sort(null);
        lines.forEach(System.out::println);
    }
}
