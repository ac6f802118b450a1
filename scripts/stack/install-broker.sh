#!/usr/bin/env bash
# Install Apache Kafka (the broker jar and its runtime dependencies, plus the
# log4j2 SLF4J binding Kafka leaves to its distribution) from Maven Central
# into the per-user cache, once, and compile the admin tool against it.
# Later runs, and fresh clones on the same machine, find both and return.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

installed() { [[ -f "$KAFKA_LIBS/.complete" && -f "$KAFKA_ADMIN_CLASSES/CispKafkaAdmin.class" ]]; }
installed && exit 0

command -v java >/dev/null || die "java not found: the broker needs a Java 17+ runtime (Debian: apt-get install openjdk-17-jdk-headless)"
command -v javac >/dev/null || die "javac not found: the admin tool is compiled once (Debian: apt-get install openjdk-17-jdk-headless)"
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = \([0-9]*\).*/\1/p')"
[[ "${java_major:-0}" -ge 17 ]] || die "Java ${java_major:-?} found; Apache Kafka $KAFKA_VERSION needs Java 17 or newer"
command -v mvn >/dev/null || die "mvn not found: Kafka's jars are fetched from Maven Central with Maven (Debian: apt-get install maven)"

mkdir -p "$CISP_CACHE_DIR"
# Serialise concurrent installs from several clones.
exec 9>"$CISP_CACHE_DIR/.kafka-install.lock"
flock 9
installed && exit 0

if [[ ! -f "$KAFKA_LIBS/.complete" ]]; then
  log "broker: fetching Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME (one-off, about a minute)"
  rm -rf "$KAFKA_LIBS"
  mvnlog="$CISP_CACHE_DIR/kafka-install.log"
  # A private local repository under the cache: fresh clones reuse it and
  # ~/.m2 is left alone.
  if ! mvn -B -f "$KAFKA_POM" -Dmaven.repo.local="$CISP_CACHE_DIR/maven" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$mvnlog" 2>&1; then
    if grep -qiE "could not transfer|unknownhost|connect(ion)? (timed out|refused)|could not resolve" "$mvnlog"; then
      grep -iE "could not transfer|could not resolve" "$mvnlog" | head -3 >&2 || true
      die "cannot download Apache Kafka $KAFKA_VERSION: Maven Central is unreachable from this machine (full log: $mvnlog)"
    fi
    tail -20 "$mvnlog" >&2
    die "Maven could not resolve Apache Kafka $KAFKA_VERSION (full log: $mvnlog)"
  fi
  [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "Maven finished but $KAFKA_LIBS has no kafka_2.13-$KAFKA_VERSION.jar (log: $mvnlog)"
  touch "$KAFKA_LIBS/.complete"
fi

log "broker: compiling the admin tool into $KAFKA_ADMIN_CLASSES"
rm -rf "$KAFKA_ADMIN_CLASSES.tmp"
mkdir -p "$KAFKA_ADMIN_CLASSES.tmp"
javac -nowarn -d "$KAFKA_ADMIN_CLASSES.tmp" -cp "$KAFKA_LIBS/*" "$KAFKA_ADMIN_SRC" \
  || die "the admin tool $KAFKA_ADMIN_SRC does not compile against Kafka $KAFKA_VERSION"
rm -rf "$KAFKA_ADMIN_CLASSES"
mv "$KAFKA_ADMIN_CLASSES.tmp" "$KAFKA_ADMIN_CLASSES"
log "broker: Apache Kafka $KAFKA_VERSION installed ($(du -sh "$KAFKA_LIBS" | cut -f1))"
