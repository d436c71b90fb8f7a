#!/usr/bin/env bash
# Brings up the whole Storefront platform on this machine: build tools, the dev stack
# (PostgreSQL, Redis, Kafka-protocol broker, S3 store, SMTP sink; see scripts/dev-stack.sh),
# a release build of the `storefront` binary, then `storefront up` (every role in one process) in
# the foreground. Ctrl-C stops the platform; the dev stack keeps running
# (scripts/dev-stack.sh down stops it).
#
# Usage: scripts/up.sh [extra arguments for `storefront up`]
#
# Environment:
#   CARGO_TARGET_DIR  build cache (default: $HOME/.cache/storefront/target)
#   STOREFRONT_*      settings of the platform and of the dev stack (see scripts/dev-stack.sh)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SF_REPO_ROOT"

ensure_build_tools
bash "$SF_REPO_ROOT/scripts/dev-stack.sh" up
eval "$(bash "$SF_REPO_ROOT/scripts/dev-stack.sh" env)"
sf_export_target_dir

sf_info "building storefront (release) into $CARGO_TARGET_DIR"
cargo build --release -p storefront-cli
bin="$CARGO_TARGET_DIR/release/storefront"
[[ -x "$bin" ]] || sf_die "build finished but $bin is missing"

printf 'Gateway: http://127.0.0.1:3000\n'
printf 'API docs: http://127.0.0.1:3000/docs\n'
printf 'Press Ctrl-C to stop.\n'
exec "$bin" up "$@"
