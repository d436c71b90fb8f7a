#!/usr/bin/env bash
# Local dependencies of the Storefront platform and its tests, on 127.0.0.1 only.
#
# Usage: scripts/dev-stack.sh up [name...] | down | status | logs [name] | env
#
#   up [name]   start whatever is not running yet (idempotent; a second run takes seconds);
#               all components unless some are named
#   down        stop what this script started (a PostgreSQL or Redis it found running is left alone)
#   status      one line per component; exit 0 when all are up, 1 otherwise
#   logs [name] follow the logs (kafka, s3, smtp, redis, postgres; all by default)
#   env         print `export` lines for the platform and tests: eval "$(scripts/dev-stack.sh env)"
#
# Components (name, default address):
#   postgres  127.0.0.1:5432  PostgreSQL, trust auth, user postgres (reused when it answers)
#   redis     127.0.0.1:6379  Redis (reused when it answers)
#   kafka     127.0.0.1:9092  tansu, a Kafka-protocol broker; data in .storefront/kafka/tansu.db
#   s3        127.0.0.1:9000  s3s-fs, an S3-compatible store; buckets are folders in .storefront/s3
#   smtp      127.0.0.1:1025  scripts/smtp_sink.py; every mail saved as .storefront/mail/*.eml
#
# Settings (environment variables, defaults in brackets):
#   STOREFRONT_PG_PORT        [5432]
#   STOREFRONT_REDIS_PORT     [6379]
#   STOREFRONT_KAFKA_PORT     [9092]
#   STOREFRONT_S3_PORT        [9000]
#   STOREFRONT_S3_ACCESS_KEY  [storefront]
#   STOREFRONT_S3_SECRET_KEY  [storefront-secret]
#   STOREFRONT_SMTP_PORT      [1025]
#   STOREFRONT_TOOLS          [$HOME/.cache/storefront/tools] cached tansu, s3s-fs, Python venv
#   STOREFRONT_STATE_DIR      [<repo>/.storefront] pid files (run/), logs (log/), data
#   STOREFRONT_START_TIMEOUT  [60] seconds a component may take to answer after start
#   STOREFRONT_STOP_TIMEOUT   [10] seconds between SIGTERM and SIGKILL on down
#
# On a machine without PostgreSQL or Redis, `up` installs them with apt-get and starts them.
# The first `up` also builds tansu and s3s-fs with cargo install (several minutes), once.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
PG_PORT="${STOREFRONT_PG_PORT:-5432}"
REDIS_PORT="${STOREFRONT_REDIS_PORT:-6379}"
KAFKA_PORT="${STOREFRONT_KAFKA_PORT:-9092}"
S3_PORT="${STOREFRONT_S3_PORT:-9000}"
S3_ACCESS_KEY="${STOREFRONT_S3_ACCESS_KEY:-storefront}"
S3_SECRET_KEY="${STOREFRONT_S3_SECRET_KEY:-storefront-secret}"
SMTP_PORT="${STOREFRONT_SMTP_PORT:-1025}"
START_TIMEOUT="${STOREFRONT_START_TIMEOUT:-60}"
STOP_TIMEOUT="${STOREFRONT_STOP_TIMEOUT:-10}"

# Tool versions (raising one here reinstalls it on the next `up`).
TANSU_VERSION=0.6.0
S3S_FS_VERSION=0.14.1
AIOSMTPD_VERSION=1.4.6
SCHEMATHESIS_VERSION=4.32.5

RUN_DIR="$SF_STATE_DIR/run"
LOG_DIR="$SF_STATE_DIR/log"
KAFKA_DIR="$SF_STATE_DIR/kafka"
S3_DIR="$SF_STATE_DIR/s3"
MAIL_DIR="$SF_STATE_DIR/mail"
REDIS_DIR="$SF_STATE_DIR/redis"
VENV="$SF_TOOLS/venv"
TANSU="$SF_TOOLS/bin/tansu"
S3S_FS="$SF_TOOLS/bin/s3s-fs"

COMPONENTS=(postgres redis kafka s3 smtp)

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

# --- processes started by this script -------------------------------------------------------

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }
log_file() { printf '%s/%s.log' "$LOG_DIR" "$1"; }

# Prints the pid of component $1 when its pid file names a live process whose command line
# contains $2 (guards against a stale pid file whose pid was reused).
live_pid() {
  local file pid
  file="$(pid_file "$1")"
  [[ -s "$file" ]] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
  printf '%s' "$pid"
}

# start_bg NAME WORKDIR CMD...: runs CMD detached (own session, no terminal, immune to the
# caller's Ctrl-C) with its output appended to log/NAME.log and its pid in run/NAME.pid.
start_bg() {
  local name="$1" workdir="$2"
  shift 2
  local pidfile log
  pidfile="$(pid_file "$name")"
  log="$(log_file "$name")"
  rm -f "$pidfile"
  printf '=== %s: starting %s\n' "$(date -u +%FT%TZ)" "$*" >>"$log"
  (
    cd "$workdir"
    # The inner bash writes its own pid and then execs CMD, so the pid file is CMD's pid.
    # shellcheck disable=SC2016
    exec setsid nohup bash -c 'echo "$$" >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null
  ) &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  sf_die "$name did not start; see $log"
}

# wait_ready NAME EXPECT CHECK...: polls CHECK until it succeeds, failing early (with the end of
# the log) when the process dies.
wait_ready() {
  local name="$1" expect="$2"
  shift 2
  local deadline=$((SECONDS + START_TIMEOUT))
  while ! "$@"; do
    if ! live_pid "$name" "$expect" >/dev/null; then
      tail -n 30 "$(log_file "$name")" >&2 || true
      sf_die "$name exited during start-up; full log: $(log_file "$name")"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$(log_file "$name")" >&2 || true
      sf_die "$name did not answer within ${START_TIMEOUT}s; full log: $(log_file "$name")"
    fi
    sleep 0.2
  done
}

# stop_pid NAME PID: SIGTERM, then SIGKILL after STOP_TIMEOUT seconds.
stop_pid() {
  local name="$1" pid="$2" deadline=$((SECONDS + STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      sf_warn "$name (pid $pid) still running after ${STOP_TIMEOUT}s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  sf_info "$name stopped (pid $pid)"
}

stop_bg() {
  local name="$1" expect="$2" pid
  if pid="$(live_pid "$name" "$expect")"; then
    stop_pid "$name" "$pid"
  else
    sf_info "$name: not running"
  fi
  rm -f "$(pid_file "$name")"
}

# --- readiness checks -------------------------------------------------------------------------

postgres_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PG_PORT" -t 2
  else
    sf_port_open "$PG_PORT"
  fi
}

redis_ready() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(timeout 2 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
  else
    sf_port_open "$REDIS_PORT"
  fi
}

kafka_ready() { sf_port_open "$KAFKA_PORT"; }

# Any HTTP answer counts. A malformed request gets "400 Bad Request" from the HTTP layer without
# reaching S3 request handling, which would log an AccessDenied error for every probe.
s3_ready() {
  # shellcheck disable=SC2016
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "PROBE\r\n\r\n" >&3
    IFS= read -r line <&3 && [[ "$line" == HTTP/1.* ]]
  ' _ "$S3_PORT" 2>/dev/null
}

smtp_ready() {
  # shellcheck disable=SC2016
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r line <&3 && [[ "$line" == 220* ]] && printf "QUIT\r\n" >&3
  ' _ "$SMTP_PORT" 2>/dev/null
}

# --- tools ------------------------------------------------------------------------------------

# cargo_tool_installed BINARY CRATE VERSION: the binary exists and, when VERSION is given, cargo's
# install record says that version (so raising the version here reinstalls).
cargo_tool_installed() {
  local bin="$1" crate="$2" version="$3"
  [[ -x "$bin" ]] || return 1
  [[ -z "$version" ]] && return 0
  grep -qF "\"$crate $version " "$SF_TOOLS/.crates.toml" 2>/dev/null
}

# cargo_tool_install CRATE_SPEC ARGS...: builds a tool into $SF_TOOLS (own temporary build dir,
# not the workspace's CARGO_TARGET_DIR), at low priority.
cargo_tool_install() {
  local spec="$1"
  shift
  ensure_build_tools
  mkdir -p "$SF_TOOLS"
  sf_info "building $spec into $SF_TOOLS (first run only; this takes several minutes)"
  env -u CARGO_TARGET_DIR nice -n 10 cargo install "$spec" --locked --root "$SF_TOOLS" "$@" ||
    sf_die "cargo install $spec failed"
}

ensure_tansu() {
  cargo_tool_installed "$TANSU" tansu "$TANSU_VERSION" ||
    cargo_tool_install "tansu@$TANSU_VERSION" --features libsql
}

ensure_s3s_fs() {
  cargo_tool_installed "$S3S_FS" s3s-fs "$S3S_FS_VERSION" ||
    cargo_tool_install "s3s-fs@$S3S_FS_VERSION" --features binary
}

# The Python tools: aiosmtpd (the SMTP sink) and schemathesis (the API fuzzer of the tests).
ensure_smtp_venv() {
  if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
      sf_info "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
      "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
        sf_die "pip install schemathesis failed"
    fi
    return 0
  fi
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    sf_apt_install python3 python3-venv
  fi
  sf_info "creating Python venv with aiosmtpd in $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "aiosmtpd==$AIOSMTPD_VERSION" "schemathesis==$SCHEMATHESIS_VERSION" ||
    sf_die "pip install aiosmtpd schemathesis failed"
}

# --- components -------------------------------------------------------------------------------

# PostgreSQL and Redis are normally already running (the machine's own services): reuse them.
# Otherwise install and start them; a marker in run/ lets `down` stop what `up` started.
up_postgres() {
  if postgres_ready; then
    check_postgres_trust
    sf_info "postgres: reusing the server on $HOST:$PG_PORT"
    return 0
  fi
  [[ "$PG_PORT" == 5432 ]] ||
    sf_die "no PostgreSQL answers on $HOST:$PG_PORT (this script only starts one on 5432)"
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ -z "$(ls /etc/postgresql 2>/dev/null)" ]]; then
    sf_apt_install postgresql
  fi
  local version hba started=""
  version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
  [[ -n "$version" ]] || sf_die "no PostgreSQL cluster under /etc/postgresql"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The first matching line wins: put trust for 127.0.0.1 on top.
  if ! sf_as_root grep -qE '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    sf_info "postgres: enabling trust auth for 127.0.0.1 in $hba"
    sf_as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  if postgres_ready; then
    # Started by its package's install: make it read the new pg_hba.conf.
    sf_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  else
    sf_info "postgres: starting cluster $version/main"
    sf_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    started=1
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until postgres_ready; do
    ((SECONDS < deadline)) || sf_die "postgres did not answer within ${START_TIMEOUT}s (see /var/log/postgresql)"
    sleep 0.2
  done
  [[ -z "$started" ]] || printf '%s\n' "$version" >"$RUN_DIR/postgres.started"
  check_postgres_trust
  sf_info "postgres: up on $HOST:$PG_PORT"
}

check_postgres_trust() {
  command -v psql >/dev/null 2>&1 || return 0
  if ! psql -h "$HOST" -p "$PG_PORT" -U postgres -w -d postgres -tAc 'select 1' >/dev/null 2>&1; then
    sf_warn "PostgreSQL on $HOST:$PG_PORT does not let user postgres in without a password (trust auth); tests will fail to connect"
  fi
}

up_redis() {
  local pid
  if pid="$(live_pid redis redis-server)" && redis_ready; then
    sf_info "redis: already running (pid $pid)"
    return 0
  fi
  if redis_ready; then
    sf_info "redis: reusing the server on $HOST:$REDIS_PORT"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    sf_apt_install redis-server
    # Its package may have started one already.
    if redis_ready; then
      sf_info "redis: reusing the server on $HOST:$REDIS_PORT"
      return 0
    fi
  fi
  mkdir -p "$REDIS_DIR"
  sf_info "redis: starting on $HOST:$REDIS_PORT"
  start_bg redis "$REDIS_DIR" redis-server --bind "$HOST" --port "$REDIS_PORT" \
    --save "" --appendonly no --dir "$REDIS_DIR"
  wait_ready redis redis-server redis_ready
  sf_info "redis: up"
}

# up_managed NAME EXPECT READY_FN WORKDIR CMD...: starts a component that this script owns.
up_managed() {
  local name="$1" expect="$2" ready="$3" workdir="$4"
  shift 4
  local pid
  if pid="$(live_pid "$name" "$expect")"; then
    wait_ready "$name" "$expect" "$ready"
    sf_info "$name: already running (pid $pid)"
    return 0
  fi
  if "$ready"; then
    sf_warn "$name: something not started from this checkout already answers on its port: reusing it"
    return 0
  fi
  sf_info "$name: starting"
  start_bg "$name" "$workdir" "$@"
  wait_ready "$name" "$expect" "$ready"
  sf_info "$name: up (pid $(live_pid "$name" "$expect"))"
}

up_kafka() {
  ensure_tansu
  mkdir -p "$KAFKA_DIR"
  up_managed kafka "$TANSU" kafka_ready "$KAFKA_DIR" \
    "$TANSU" broker \
    --listener-url "tcp://$HOST:$KAFKA_PORT" \
    --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
    --storage-engine "sqlite://tansu.db"
  # The index tansu's SQLite schema lacks (scripts/tansu-index.py says why); not for a broker
  # this checkout did not start (its storage is elsewhere).
  if [[ -f "$KAFKA_DIR/tansu.db" ]]; then
    python3 "$SF_REPO_ROOT/scripts/tansu-index.py" "$KAFKA_DIR/tansu.db"
  fi
}

up_s3() {
  ensure_s3s_fs
  mkdir -p "$S3_DIR"
  up_managed s3 "$S3S_FS" s3_ready "$S3_DIR" \
    "$S3S_FS" --host "$HOST" --port "$S3_PORT" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$S3_DIR"
}

up_smtp() {
  ensure_smtp_venv
  mkdir -p "$MAIL_DIR"
  up_managed smtp smtp_sink.py smtp_ready "$MAIL_DIR" \
    "$VENV/bin/python" "$SF_REPO_ROOT/scripts/smtp_sink.py" \
    --host "$HOST" --port "$SMTP_PORT" --maildir "$MAIL_DIR"
}

cmd_up() {
  local start=$SECONDS name
  local -a names=("$@")
  ((${#names[@]} > 0)) || names=("${COMPONENTS[@]}")
  for name in "${names[@]}"; do
    [[ " ${COMPONENTS[*]} " == *" $name "* ]] ||
      sf_die "unknown component '$name' (one of: ${COMPONENTS[*]})"
  done
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  ensure_build_tools
  for name in "${names[@]}"; do
    "up_$name"
  done
  sf_info "dev stack up in $(sf_fmt_duration $((SECONDS - start))) (state in $SF_STATE_DIR)"
}

cmd_down() {
  stop_bg smtp smtp_sink.py
  stop_bg s3 "$S3S_FS"
  stop_bg kafka "$TANSU"
  local pid
  if pid="$(live_pid redis redis-server)"; then
    stop_pid redis "$pid"
  fi
  rm -f "$(pid_file redis)"
  if [[ -s "$RUN_DIR/postgres.started" ]]; then
    local version
    version="$(cat "$RUN_DIR/postgres.started")"
    sf_info "postgres: stopping cluster $version/main (started by dev-stack up)"
    sf_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main stop || true
    rm -f "$RUN_DIR/postgres.started"
  elif postgres_ready; then
    sf_info "postgres: left running (not started by this script)"
  fi
  if [[ -z "${pid:-}" ]] && redis_ready; then
    sf_info "redis: left running (not started by this script)"
  fi
}

# status_line NAME PORT READY_FN EXPECT: prints "name address up|down pid|external|-".
status_line() {
  local name="$1" port="$2" ready="$3" expect="$4" state=down who=- pid
  if "$ready"; then state=up; fi
  if [[ -n "$expect" ]] && pid="$(live_pid "$name" "$expect")"; then
    who="$pid"
  elif [[ "$state" == up ]]; then
    who=external
  fi
  if [[ "$name" == postgres && -s "$RUN_DIR/postgres.started" && "$state" == up ]]; then
    # Debian clusters write their postmaster pid to /run/postgresql/<version>-main.pid.
    who="$(head -n 1 "/run/postgresql/$(cat "$RUN_DIR/postgres.started")-main.pid" 2>/dev/null || echo started)"
  fi
  printf '%-9s %-16s %-5s %s\n' "$name" "$HOST:$port" "$state" "$who"
  [[ "$state" == up ]]
}

cmd_status() {
  local rc=0
  status_line postgres "$PG_PORT" postgres_ready "" || rc=1
  status_line redis "$REDIS_PORT" redis_ready redis-server || rc=1
  status_line kafka "$KAFKA_PORT" kafka_ready "$TANSU" || rc=1
  status_line s3 "$S3_PORT" s3_ready "$S3S_FS" || rc=1
  status_line smtp "$SMTP_PORT" smtp_ready smtp_sink.py || rc=1
  return "$rc"
}

cmd_logs() {
  local -a files=()
  local name
  if (($# > 0)); then
    name="$1"
    case "$name" in
      postgres)
        files=(/var/log/postgresql/*.log)
        [[ -e "${files[0]}" ]] || sf_die "no PostgreSQL logs under /var/log/postgresql"
        ;;
      redis | kafka | s3 | smtp)
        [[ -e "$(log_file "$name")" ]] ||
          sf_die "no log for $name yet ($(log_file "$name")); a reused Redis logs elsewhere"
        files=("$(log_file "$name")")
        ;;
      *) sf_die "unknown component '$name' (one of: ${COMPONENTS[*]})" ;;
    esac
  else
    for name in redis kafka s3 smtp; do
      [[ -e "$(log_file "$name")" ]] && files+=("$(log_file "$name")")
    done
    ((${#files[@]} > 0)) || sf_die "no logs in $LOG_DIR yet (run: scripts/dev-stack.sh up)"
  fi
  exec tail -n 100 -F "${files[@]}"
}

cmd_env() {
  local -a vars=(
    "STOREFRONT_POSTGRES__URL=postgres://postgres@$HOST:$PG_PORT/postgres"
    "STOREFRONT_REDIS__URL=redis://$HOST:$REDIS_PORT"
    "STOREFRONT_KAFKA__BROKERS=$HOST:$KAFKA_PORT"
    "STOREFRONT_S3__ENDPOINT=http://$HOST:$S3_PORT"
    "STOREFRONT_S3__ACCESS_KEY=$S3_ACCESS_KEY"
    "STOREFRONT_S3__SECRET_KEY=$S3_SECRET_KEY"
    "STOREFRONT_SMTP_MAILDIR=$MAIL_DIR"
    "STOREFRONT_TOOLS=$SF_TOOLS"
  )
  local kv
  for kv in "${vars[@]}"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
}

main() {
  (($# >= 1)) || usage
  local cmd="$1"
  shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    env) cmd_env ;;
    -h | --help | help) usage 0 ;;
    *)
      sf_warn "unknown command '$cmd'"
      usage
      ;;
  esac
}

main "$@"
