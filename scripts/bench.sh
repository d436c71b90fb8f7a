#!/usr/bin/env bash
# Reproducible benchmarks: starts the dev stack and the platform (release build, every role in one
# process) with benchmark settings, runs a storefront-bench scenario against the gateway on
# loopback, prints req/s and latency percentiles, and stops the platform again.
#
# Usage: scripts/bench.sh identity|catalog|checkout|events|recommendations [storefront-bench options, e.g. --duration 10 --concurrency 16]
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
# buckets `bench-*` (STOREFRONT_BENCH_PREFIX changes `bench`). `catalog` seeds STOREFRONT_BENCH_PRODUCTS products (default 100000) once.
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

if sf_port_open 3000; then
  sf_die "port 3000 is in use: stop the running platform first (the benchmark starts its own)"
fi

sf_info "building storefront and storefront-bench (release)"
cargo build --release -p storefront-cli -p storefront-bench
bin="$CARGO_TARGET_DIR/release"

export STOREFRONT_GATEWAY__RATE_LIMIT__ENABLED=false
export STOREFRONT_AUTH__THROTTLE__ENABLED=false
export STOREFRONT_TELEMETRY__LOG_LEVEL=warn
prefix="${STOREFRONT_BENCH_PREFIX:-bench}"
export STOREFRONT_POSTGRES__DATABASE_PREFIX="${prefix}_"
export STOREFRONT_REDIS__KEY_PREFIX="${prefix}:"
export STOREFRONT_S3__BUCKET_PREFIX="${prefix}-"
if [[ "$scenario" == load ]]; then
  # The reference tools (Debian: pgbench comes with the server package postgresql-contrib pulls).
  ref_pkgs=()
  command -v pgbench >/dev/null 2>&1 || ref_pkgs+=(postgresql-contrib)
  command -v psql >/dev/null 2>&1 || ref_pkgs+=(postgresql-client)
  command -v redis-benchmark >/dev/null 2>&1 || ref_pkgs+=(redis-tools)
  if ((${#ref_pkgs[@]})); then sf_apt_install "${ref_pkgs[@]}"; fi
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
log="$(mktemp)"
"$bin/storefront" up --no-seed >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:3000/readyz >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    sf_die "storefront up exited"
  fi
  sleep 0.5
done
curl -fsS http://127.0.0.1:3000/readyz >/dev/null || sf_die "the gateway did not become ready"

printf 'machine: %s cores, %s, %s\n' "$(nproc)" "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" "$(uname -sr)"
if [[ "$scenario" != checkout ]]; then
  "$bin/storefront-bench" "$scenario" "$@"
  exit 0
fi

# checkout: also what one checkout costs in database transactions, per database, from
# PostgreSQL's own counters (pg_stat_database.xact_commit). Background work (outbox relays,
# sweepers) is measured first for 5 s with the platform idle and subtracted; the benchmark's
# setup (a product, its shoppers and their cards) is included, so the figures are upper bounds.
commits() {
  psql -h 127.0.0.1 -U postgres -d postgres -AtF ' ' -c \
    "SELECT datname, xact_commit FROM pg_stat_database WHERE datname LIKE '${prefix}\\_%' ORDER BY 1"
}
t0="$(date +%s.%N)"; c0="$(commits)"
sleep 5
t1="$(date +%s.%N)"; c1="$(commits)"
out="$(mktemp)"
"$bin/storefront-bench" "$scenario" "$@" | tee "$out"
t2="$(date +%s.%N)"; c2="$(commits)"
paid="$(awk '/^checkout to paid/ {print $4}' "$out")"
rm -f "$out"
printf '\ndatabase transactions per checkout to paid (%s checkouts, idle background subtracted):\n' "${paid:-0}"
join <(echo "$c0") <(echo "$c1") | join - <(echo "$c2") | awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n="${paid:-0}" '
  { bg = ($3 - $2) / (t1 - t0); run = ($4 - $3) - bg * (t2 - t1); if (run < 0) run = 0
    total += run; if (n > 0) printf "  %-28s %8.2f\n", $1, run / n }
  END { if (n > 0) printf "  %-28s %8.2f\n", "all databases", total / n }'

