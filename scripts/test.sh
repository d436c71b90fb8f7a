#!/usr/bin/env bash
# Runs every test of the workspace, from a fresh machine: build tools, the dev stack
# (scripts/dev-stack.sh up), then rustfmt, clippy, nextest and doc tests. Exits non-zero when any
# step fails; every step still runs (so one run shows all problems) except after a failed stack.
#
# Environment:
#   STOREFRONT_TEST_FILTER  nextest filter expression, e.g. 'package(storefront-kit)' or
#                           'test(checkout)'; when set, fmt, clippy and doc tests are skipped
#   STOREFRONT_SKIP_DOCTESTS=1  skip `cargo test --doc`
#   NEXTEST_PROFILE         nextest profile (default: "ci" when CI is set, else "default")
#   CARGO_TARGET_DIR        build cache (default: $HOME/.cache/storefront/target)
#   STOREFRONT_TOOLS, STOREFRONT_* ports: see scripts/dev-stack.sh
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SF_REPO_ROOT"

FILTER="${STOREFRONT_TEST_FILTER:-}"
TOTAL_START="$(sf_now)"
declare -a SUMMARY=()
FAILED=0

# step NAME CMD...: runs CMD, prints its elapsed time, records the result.
step() {
  local name="$1"
  shift
  local start rc=0
  start="$(sf_now)"
  printf '\n==> %s: %s\n' "$name" "$*" >&2
  "$@" || rc=$?
  local took
  took="$(sf_fmt_duration $(($(sf_now) - start)))"
  if ((rc == 0)); then
    SUMMARY+=("ok      $name ($took)")
    printf '==> %s: ok in %s\n' "$name" "$took" >&2
  else
    SUMMARY+=("FAILED  $name ($took, exit $rc)")
    printf '==> %s: FAILED (exit %d) after %s\n' "$name" "$rc" "$took" >&2
    FAILED=1
  fi
  return "$rc"
}

finish() {
  printf '\n==> summary (total %s)\n' "$(sf_fmt_duration $(($(sf_now) - TOTAL_START)))" >&2
  printf '    %s\n' "${SUMMARY[@]}" >&2
  if [[ -n "${FINAL_LINE:-}" ]]; then
    printf '%s\n' "$FINAL_LINE"
  fi
  exit "$FAILED"
}

# shellcheck disable=SC2317 # called through step
ensure_nextest() {
  if cargo nextest --version >/dev/null 2>&1; then
    return 0
  fi
  if [[ -x "$SF_TOOLS/bin/cargo-nextest" ]]; then
    export PATH="$SF_TOOLS/bin:$PATH"
    return 0
  fi
  sf_info "installing cargo-nextest into $SF_TOOLS"
  env -u CARGO_TARGET_DIR cargo install cargo-nextest --locked --root "$SF_TOOLS" || return 1
  export PATH="$SF_TOOLS/bin:$PATH"
}

step "build tools" ensure_build_tools || finish
step "dev stack" bash "$SF_REPO_ROOT/scripts/dev-stack.sh" up || finish
eval "$(bash "$SF_REPO_ROOT/scripts/dev-stack.sh" env)"
sf_export_target_dir
sf_info "CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
step "cargo-nextest" ensure_nextest || finish

if [[ -z "$FILTER" ]]; then
  step "rustfmt" cargo fmt --all -- --check || true
  step "clippy" cargo clippy --workspace --all-targets -- -D warnings || true
fi

# nextest does not run doc tests. They compile the workspace libraries that nextest needs anyway,
# and edition 2024 merges each crate's doc tests into one binary, so they are cheap; skip with STOREFRONT_SKIP_DOCTESTS=1 (and
# always when a filter is set). They run before nextest so that nextest's summary stays the last
# test output.
if [[ -z "$FILTER" && "${STOREFRONT_SKIP_DOCTESTS:-}" != 1 ]]; then
  step "doc tests" cargo test --workspace --doc || true
fi

# The black-box tests (tests/tests/it/journey.rs, fuzz.rs) run the `storefront` binary the way
# the README does, as child processes; build it once here so they use the current code.
step "storefront binary" cargo build -p storefront-cli || finish
export STOREFRONT_BIN="$CARGO_TARGET_DIR/debug/storefront"

# The web shop (web/): locked dependencies, type check, Vitest and the production build (which
# the browser test in tests/tests/it/web.rs serves through the gateway), and the browser that
# test drives. Skipped when a filter is set that does not mention `web`.
# shellcheck disable=SC2317 # called through step
web_shop() {
  build_web || return 1
  (cd "$SF_REPO_ROOT/web" && npm run --silent typecheck && npm test --silent) || return 1
  ensure_chromium
}
if [[ -z "$FILTER" || "$FILTER" == *web* ]]; then
  step "web shop" web_shop || true
fi

profile="${NEXTEST_PROFILE:-}"
if [[ -z "$profile" ]]; then
  if [[ -n "${CI:-}" ]]; then profile=ci; else profile=default; fi
fi
nextest_args=(nextest run --workspace --no-fail-fast --profile "$profile")
if [[ -n "$FILTER" ]]; then
  sf_info "STOREFRONT_TEST_FILTER set: running only nextest with -E '$FILTER' (no fmt, clippy, doc tests)"
  nextest_args+=(-E "$FILTER")
fi
NEXTEST_LOG="$(mktemp)"
run_nextest() {
  cargo "${nextest_args[@]}" 2>&1 | tee "$NEXTEST_LOG"
}
step "nextest" run_nextest || true

# The short soak (bench/src/soak): three minutes of the load benchmark's mix against a platform of
# its own, one process per role, with login bursts, roles killed with SIGKILL and restarted and the
# broker stopped; fails when an order was lost, stuck or charged twice, stock does not balance, a
# burst got an answer other than 2xx, 401 or 503 with Retry-After, or memory, descriptors or
# connections did not come back. `scripts/bench.sh soak` is the ten-minute version.
# shellcheck disable=SC2317 # called through step
soak_short() {
  cargo build -q -p storefront-bench || return 1
  "$CARGO_TARGET_DIR/debug/storefront-bench" soak --short --out target/soak-short
}
if [[ -z "$FILTER" || "$FILTER" == *soak* ]]; then
  step "soak (short)" soak_short || true
fi
# One plain closing line with the counts, for CI tooling that reads the last line.
counts="$(grep -Eo '[0-9]+ tests run: [0-9]+ passed(, [0-9]+ failed)?' "$NEXTEST_LOG" | tail -n 1 || true)"
rm -f "$NEXTEST_LOG"
if [[ -n "$counts" ]]; then
  passed="$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$counts")"
  failed="$(grep -Eo '[0-9]+ failed' <<<"$counts" | grep -Eo '[0-9]+' || echo 0)"
  FINAL_LINE="tests: $passed passed, $failed failed"
fi

finish
