#!/usr/bin/env bash
# Brings up the whole Storefront platform on this machine: build tools, the dev stack
# (PostgreSQL, Redis, Kafka-protocol broker, S3 store, SMTP sink; see scripts/dev-stack.sh),
# a release build of the `storefront` binary, the web shop (web/, built with npm into web/dist),
# then `storefront up` (every role in one process) in the foreground. The gateway serves the
# shop at http://127.0.0.1:5173 (and on its own port). Ctrl-C stops the platform; the dev stack
# keeps running (scripts/dev-stack.sh down stops it).
#
# Usage: scripts/up.sh [extra arguments for `storefront up`]
#
# Environment:
#   CARGO_TARGET_DIR  build cache (default: $HOME/.cache/storefront/target)
#   STOREFRONT_GATEWAY__WEB_LISTEN  where the shop is served (default: 127.0.0.1:5173)
#   STOREFRONT_*      settings of the platform and of the dev stack (see scripts/dev-stack.sh)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SF_REPO_ROOT"

ensure_build_tools
ensure_node
bash "$SF_REPO_ROOT/scripts/dev-stack.sh" up
eval "$(bash "$SF_REPO_ROOT/scripts/dev-stack.sh" env)"
sf_export_target_dir

sf_info "building storefront (release) into $CARGO_TARGET_DIR"
cargo build --release -p storefront-cli
bin="$CARGO_TARGET_DIR/release/storefront"
[[ -x "$bin" ]] || sf_die "build finished but $bin is missing"

build_web || sf_die "building the web shop failed (see above)"
export STOREFRONT_GATEWAY__WEB_DIR="${STOREFRONT_GATEWAY__WEB_DIR:-$SF_REPO_ROOT/web/dist}"
export STOREFRONT_GATEWAY__WEB_LISTEN="${STOREFRONT_GATEWAY__WEB_LISTEN:-127.0.0.1:5173}"

printf 'Shop: http://%s\n' "$STOREFRONT_GATEWAY__WEB_LISTEN"
printf 'Gateway: http://127.0.0.1:3000\n'
printf 'API docs: http://127.0.0.1:3000/docs\n'
printf 'Press Ctrl-C to stop.\n'
exec "$bin" up "$@"
