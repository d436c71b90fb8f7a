#!/usr/bin/env bash
# Reproducible benchmarks: starts the dev stack and the platform (release build, every role in one
# process) with benchmark settings, runs a storefront-bench scenario against the gateway on
# loopback, prints req/s and latency percentiles, and stops the platform again.
#
# Usage: scripts/bench.sh identity|catalog|checkout|events|recommendations [storefront-bench options, e.g. --duration 10 --concurrency 16]
#        scripts/bench.sh burst [--logins 500] [--signups 200] [--settle 30]   (RSS of `storefront up` under a burst)
#        scripts/bench.sh soak [--length 600] [--short] [--out target/bench-soak]   (10 minutes of the mix with faults)
#        scripts/bench.sh load [--scenario browse,search,cart,checkout,mix] [--users 16] [--duration 10] [--rate 0] [--out target/bench-load]
#
# `load` runs the goose-driven shopper scenarios and measures the reference limits in the same
# run (a static gateway route under goose, pgbench simple-update on a scratch database
# `bench_pgbench`, redis-benchmark GET/SET in Redis database 15); it installs pgbench and
# redis-benchmark when missing and seeds STOREFRONT_BENCH_PRODUCTS (default 1000) products once.
#
# Benchmark settings: the gateway's rate limiter and auth's brute-force throttling are switched off
# (they would measure the limits, not the platform); everything else is the default configuration.
# Benchmark data lives apart from development data: databases `bench_*`, Redis keys `bench:*`,
# buckets `bench-*`, topics `bench.*` (STOREFRONT_BENCH_PREFIX changes `bench`). `catalog` seeds STOREFRONT_BENCH_PRODUCTS products (default 100000) once.
# The platform gets STOREFRONT_BENCH_READY_SECS (default 60) to become ready.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SF_REPO_ROOT"

scenario="${1:-identity}"
shift || true

ensure_build_tools
bash "$SF_REPO_ROOT/scripts/dev-stack.sh" up
eval "$(bash "$SF_REPO_ROOT/scripts/dev-stack.sh" env)"
sf_export_target_dir

sf_info "building storefront and storefront-bench (release)"
cargo build --release -p storefront-cli -p storefront-bench
bin="$CARGO_TARGET_DIR/release"

if [[ "$scenario" == soak ]]; then
  # The soak runs a platform of its own (one process per role on free loopback ports, its own
  # data prefix, a private broker) the way the black-box tests do: no port 3000, no settings here.
  printf 'machine: %s cores, %s, %s\n' "$(nproc)" "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" "$(uname -sr)"
  STOREFRONT_BIN="$bin/storefront" STOREFRONT_TELEMETRY__LOG_LEVEL=warn exec "$bin/storefront-bench" soak "$@"
fi

if sf_port_open 3000; then
  sf_die "port 3000 is in use: stop the running platform first (the benchmark starts its own)"
fi

export STOREFRONT_GATEWAY__RATE_LIMIT__ENABLED=false
export STOREFRONT_AUTH__THROTTLE__ENABLED=false
export STOREFRONT_TELEMETRY__LOG_LEVEL=warn
prefix="${STOREFRONT_BENCH_PREFIX:-bench}"
export STOREFRONT_POSTGRES__DATABASE_PREFIX="${prefix}_"
export STOREFRONT_REDIS__KEY_PREFIX="${prefix}:"
export STOREFRONT_S3__BUCKET_PREFIX="${prefix}-"
# Topics (and so consumer groups' positions) apart too: without this, platforms with different
# prefixes share the shared broker's topics and each run's consumers first work through every
# earlier run's events.
export STOREFRONT_KAFKA__TOPIC_PREFIX="${prefix}."
if [[ "$scenario" == load ]]; then
  # The reference tools (Debian: pgbench comes with the server package postgresql-contrib pulls).
  ref_pkgs=()
  command -v pgbench >/dev/null 2>&1 || ref_pkgs+=(postgresql-contrib)
  command -v psql >/dev/null 2>&1 || ref_pkgs+=(postgresql-client)
  command -v redis-benchmark >/dev/null 2>&1 || ref_pkgs+=(redis-tools)
  if ((${#ref_pkgs[@]})); then sf_apt_install "${ref_pkgs[@]}"; fi
fi
if [[ "$scenario" == checkout ]]; then
  # Statements per checkout come from pg_stat_statements, which PostgreSQL loads only at start:
  # when it is not loaded yet, it is added to shared_preload_libraries and the local cluster is
  # restarted once (nothing of the platform is running yet; the dev stack's services reconnect).
  if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
    command -v pg_ctlcluster >/dev/null 2>&1 ||
      sf_die "pg_stat_statements is not loaded: add it to shared_preload_libraries and restart PostgreSQL"
    sf_info "loading pg_stat_statements (shared_preload_libraries) and restarting PostgreSQL once"
    loaded="$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "SHOW shared_preload_libraries")"
    psql -h 127.0.0.1 -U postgres -d postgres -qc \
      "ALTER SYSTEM SET shared_preload_libraries = '${loaded:+$loaded,}pg_stat_statements'"
    read -r pg_version pg_cluster _ < <(pg_lsclusters -h | awk '$3 == 5432') ||
      sf_die "no local PostgreSQL cluster on port 5432 to restart: load pg_stat_statements yourself"
    pg_ctlcluster "$pg_version" "$pg_cluster" restart
    for _ in $(seq 1 50); do psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
fi
case "$scenario" in
  catalog)
    sf_info "seeding ${STOREFRONT_BENCH_PRODUCTS:-100000} products into ${prefix}_product_db (once; skipped when present)"
    "$bin/storefront" seed --products "${STOREFRONT_BENCH_PRODUCTS:-100000}"
    ;;
  checkout | load)
    # The admin that creates the benchmark product (created once; its password is set each run).
    export STOREFRONT_BENCH_ADMIN_EMAIL="bench-admin@example.test"
    export STOREFRONT_BENCH_ADMIN_PASSWORD="bench admin password"
    STOREFRONT_ADMIN_PASSWORD="$STOREFRONT_BENCH_ADMIN_PASSWORD" \
      "$bin/storefront" admin create --email "$STOREFRONT_BENCH_ADMIN_EMAIL" >/dev/null
    if [[ "$scenario" == load ]]; then
      # A small catalog for browse and search (an existing one, e.g. the catalog scenario's, is reused).
      sf_info "seeding ${STOREFRONT_BENCH_PRODUCTS:-1000} products into ${prefix}_product_db (once; skipped when present)"
      "$bin/storefront" seed --products "${STOREFRONT_BENCH_PRODUCTS:-1000}"
    fi
    ;;
  recommendations)
    # Any seeded catalog will do (the catalog scenario's 100,000 products are reused when present).
    sf_info "seeding ${STOREFRONT_BENCH_PRODUCTS:-1000} products into ${prefix}_product_db (once; skipped when present)"
    "$bin/storefront" seed --products "${STOREFRONT_BENCH_PRODUCTS:-1000}"
    ;;
esac
broker_pid=""
if [[ "$scenario" == events || "$scenario" == checkout ]]; then
  # A fresh broker of its own: tansu's SQLite storage slows down as it fills (an events run
  # writes hundreds of MB; checkouts fell from 34.6/s to 24.5/s over eight runs on one broker),
  # so the figures would depend on how many runs came before.
  broker_dir="$(mktemp -d)"
  broker_port=19092
  sf_port_open "$broker_port" && sf_die "port $broker_port is in use (the benchmark's own broker)"
  (cd "$broker_dir" && exec "$STOREFRONT_TOOLS/bin/tansu" broker \
    --listener-url "tcp://127.0.0.1:$broker_port" --advertised-listener-url "tcp://127.0.0.1:$broker_port" \
    --storage-engine sqlite://tansu.db >tansu.log 2>&1) &
  broker_pid=$!
  for _ in $(seq 1 100); do sf_port_open "$broker_port" && break; sleep 0.1; done
  sf_port_open "$broker_port" || sf_die "the benchmark's broker did not start (log: $broker_dir/tansu.log)"
  python3 "$SF_REPO_ROOT/scripts/tansu-index.py" "$broker_dir/tansu.db"
  export STOREFRONT_KAFKA__BROKERS="127.0.0.1:$broker_port"
  sf_info "$scenario: a fresh broker on 127.0.0.1:$broker_port for this run"
fi
# The platform's log is kept at STOREFRONT_BENCH_LOG when set (to look at what it said under load).
log="${STOREFRONT_BENCH_LOG:-$(mktemp)}"
"$bin/storefront" up --no-seed >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [[ -n "${STOREFRONT_BENCH_LOG:-}" ]] || rm -f "$log"
  if [[ -n "$broker_pid" ]]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    rm -rf "$broker_dir"
  fi
}
trap cleanup EXIT

# A large catalog takes longer to load into the search index (1,000,000 products: minutes).
ready_secs="${STOREFRONT_BENCH_READY_SECS:-60}"
[[ "$ready_secs" =~ ^[1-9][0-9]{0,4}$ ]] || sf_die "STOREFRONT_BENCH_READY_SECS must be a whole number of seconds, 1 to 99999 (got '$ready_secs')"
for _ in $(seq 1 $((ready_secs * 2))); do
  if curl -fsS http://127.0.0.1:3000/readyz >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    sf_die "storefront up exited"
  fi
  sleep 0.5
done
curl -fsS http://127.0.0.1:3000/readyz >/dev/null ||
  sf_die "the platform did not become ready within ${ready_secs}s (STOREFRONT_BENCH_READY_SECS)"

printf 'machine: %s cores, %s, %s\n' "$(nproc)" "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" "$(uname -sr)"
if [[ "$scenario" == burst ]]; then
  STOREFRONT_BENCH_PID="$pid" "$bin/storefront-bench" burst "$@"
  exit 0
fi
if [[ "$scenario" != checkout ]]; then
  STOREFRONT_BENCH_PID="$pid" "$bin/storefront-bench" "$scenario" "$@"
  exit 0
fi

# checkout: also what one checkout costs in the databases, from PostgreSQL's own counters:
# write transactions (the cluster's transaction-id counter, which advances only for transactions
# that write), and per database all committed transactions (pg_stat_database.xact_commit, reads
# included: the benchmark polls the order and the cart) and rows written. Background work
# (outbox relays, sweepers) is measured first for 5 s with the platform idle and subtracted; the
# benchmark's setup (a product, its shoppers and their cards) is included, so these are upper bounds.
# Statements: pg_stat_statements' calls per database (BEGIN and COMMIT included).
counters() {
  psql -h 127.0.0.1 -U postgres -d postgres -AtF ' ' -c \
    "SELECT d.datname, d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted,
            coalesce((SELECT sum(s.calls) FROM pg_stat_statements s WHERE s.dbid = d.datid), 0)
       FROM pg_stat_database d
      WHERE d.datname LIKE '${prefix}\\_%' AND d.datname <> '${prefix}_pgbench'
     UNION ALL SELECT '~writes', pg_current_xact_id()::text::bigint, 0, 0 ORDER BY 1"
}
# Every statement's calls, to list the ones a checkout runs most.
statements() {
  psql -h 127.0.0.1 -U postgres -d postgres -AtF $'\t' -c \
    "SELECT d.datname || ': ' || regexp_replace(left(s.query, 90), '\\s+', ' ', 'g'), s.calls
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname LIKE '${prefix}\\_%' AND d.datname <> '${prefix}_pgbench'"
}
t0="$(date +%s.%N)"; c0="$(counters)"; s0="$(statements)"
sleep 5
t1="$(date +%s.%N)"; c1="$(counters)"; s1="$(statements)"
out="$(mktemp)"
"$bin/storefront-bench" "$scenario" "$@" | tee "$out"
t2="$(date +%s.%N)"; c2="$(counters)"; s2="$(statements)"
paid="$(awk '/^checkout to paid/ {print $4}' "$out")"
rm -f "$out"
printf '\nper checkout to paid (%s checkouts, idle background subtracted):\n' "${paid:-0}"
printf '  %-24s %14s %14s %14s\n' database transactions "rows written" statements
# Same query, same rows in the same order: side by side.
paste -d ' ' <(echo "$c0") <(echo "$c1") <(echo "$c2") | awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n="${paid:-0}" '
  function cost(a, b, c) { r = (c - b) - (b - a) / (t1 - t0) * (t2 - t1); return r < 0 ? 0 : r / n }
  n > 0 && $1 != "~writes" { x = cost($2, $6, $10); w = cost($3, $7, $11); q = cost($4, $8, $12)
    tx += x; rows += w; st += q
    printf "  %-24s %14.2f %14.2f %14.2f\n", $1, x, w, q }
  n > 0 && $1 == "~writes" { writes = cost($2, $6, $10) }
  END { if (n > 0) { printf "  %-24s %14.2f %14.2f %14.2f\n", "all databases", tx, rows, st
          printf "  write transactions (all databases, from the transaction-id counter): %.2f\n", writes } }'
if [[ -n "$paid" && "$paid" != 0 ]]; then
  printf '\nstatements per checkout to paid, 0.5 and more (pg_stat_statements, idle background subtracted):\n'
  awk -F '\t' -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n="$paid" '
    FILENAME == ARGV[1] { a[$1] = $2; next }
    FILENAME == ARGV[2] { b[$1] = $2; next }
    { r = ($2 - b[$1]) - (b[$1] - a[$1]) / (t1 - t0) * (t2 - t1); r /= n
      if (r >= 0.5) printf "  %6.2f  %s\n", r, $1 }' \
    <(echo "$s0") <(echo "$s1") <(echo "$s2") | sort -rn
fi
