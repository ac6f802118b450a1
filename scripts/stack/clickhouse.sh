#!/usr/bin/env bash
# Start or stop a private ClickHouse server on 127.0.0.1 with its data under
# $CISP_STACK_DIR/clickhouse (the Debian package's own service is not used).
#   clickhouse.sh start | stop | status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIR="$CISP_STACK_DIR/clickhouse"
PID="$DIR/clickhouse.pid"
LOG="$DIR/log/clickhouse-server.log"

ping() {
  [[ "$(curl -fsS --max-time 2 "$CISP_CLICKHOUSE_URL/ping" 2>/dev/null)" == "Ok." ]]
}

write_config() {
  mkdir -p "$DIR/data" "$DIR/tmp" "$DIR/user_files" "$DIR/log" "$DIR/format_schemas"
  cat >"$DIR/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$DIR/log/clickhouse-server.log</log>
        <errorlog>$DIR/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <http_port>$CISP_CH_HTTP_PORT</http_port>
    <tcp_port>$CISP_CH_TCP_PORT</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>256</max_connections>
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>64</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$DIR/data/</path>
    <tmp_path>$DIR/tmp/</tmp_path>
    <user_files_path>$DIR/user_files/</user_files_path>
    <format_schema_path>$DIR/format_schemas/</format_schema_path>
    <users_config>$DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
XML
  cat >"$DIR/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
XML
}

start() {
  if pid_alive "$PID" && ping; then
    log "clickhouse: already running on $CISP_CLICKHOUSE_URL (pid $(cat "$PID"))"
    return 0
  fi
  command -v clickhouse-server >/dev/null || bash "$CISP_ROOT/scripts/stack/install-clickhouse.sh"
  command -v curl >/dev/null || die "curl is needed for health checks (apt-get install curl)"
  if ping; then
    # Another checkout on this machine started it; tests use their own databases.
    log "clickhouse: a server already answers on $CISP_CLICKHOUSE_URL (not started from this checkout); using it"
    return 0
  fi
  write_config
  log "clickhouse: starting on $CISP_CLICKHOUSE_URL (data in $DIR)"
  rm -f "$PID"
  (cd "$DIR" && spawn_detached "$PID" "$DIR/log/stdout.log" clickhouse-server --config-file="$DIR/config.xml")
  wait_for "ping || ! pid_alive $PID" 60 || true
  if ! ping; then
    tail -20 "$DIR/log/clickhouse-server.err.log" "$DIR/log/stdout.log" >&2 2>/dev/null || true
    die "clickhouse did not answer /ping within 60 s; logs in $DIR/log"
  fi
  log "clickhouse: up"
}

stop() {
  stop_pidfile clickhouse "$PID" 30
}

status() {
  if pid_alive "$PID" && ping; then
    echo "clickhouse: running on $CISP_CLICKHOUSE_URL (pid $(cat "$PID"))"
  else
    echo "clickhouse: stopped"
    return 1
  fi
}

"${1:-status}"
