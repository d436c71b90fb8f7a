#!/usr/bin/env bash
# Reproducible benchmarks: starts the dev stack and the platform (release build, every role in one
# process) with benchmark settings, runs a storefront-bench scenario against the gateway on
# loopback, prints req/s and latency percentiles, and stops the platform again.
#
# Usage: scripts/bench.sh identity|catalog|checkout|events|recommendations [storefront-bench options, e.g. --duration 10 --concurrency 16]
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
case "$scenario" in
  catalog)
    sf_info "seeding ${STOREFRONT_BENCH_PRODUCTS:-100000} products into ${prefix}_product_db (once; skipped when present)"
    "$bin/storefront" seed --products "${STOREFRONT_BENCH_PRODUCTS:-100000}"
    ;;
  checkout)
    # The admin that creates the benchmark product (created once; its password is set each run).
    export STOREFRONT_BENCH_ADMIN_EMAIL="bench-admin@example.test"
    export STOREFRONT_BENCH_ADMIN_PASSWORD="bench admin password"
    STOREFRONT_ADMIN_PASSWORD="$STOREFRONT_BENCH_ADMIN_PASSWORD" \
      "$bin/storefront" admin create --email "$STOREFRONT_BENCH_ADMIN_EMAIL" >/dev/null
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
"$bin/storefront-bench" "$scenario" "$@"
