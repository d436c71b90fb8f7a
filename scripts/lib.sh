# shellcheck shell=bash
# Shared helpers for the scripts in this folder. Source it; do not run it.
#
#   STOREFRONT_TOOLS      where cargo-installed tools and the Python venv are cached
#                         (default: $HOME/.cache/storefront/tools)
#   STOREFRONT_STATE_DIR  where the dev stack keeps pids, logs and data (default: <repo>/.storefront)

if [[ -n "${SF_LIB_LOADED:-}" ]]; then
  return 0
fi
SF_LIB_LOADED=1

SF_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
SF_TOOLS="${STOREFRONT_TOOLS:-$HOME/.cache/storefront/tools}"
# shellcheck disable=SC2034
SF_STATE_DIR="${STOREFRONT_STATE_DIR:-$SF_REPO_ROOT/.storefront}"
SF_DEFAULT_TARGET_DIR="$HOME/.cache/storefront/target"

# Messages go to stderr so that commands whose stdout is data (dev-stack.sh env) stay clean.
sf_info() { printf '[storefront] %s\n' "$*" >&2; }
sf_warn() { printf '[storefront] warning: %s\n' "$*" >&2; }
sf_die() {
  printf '[storefront] error: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
sf_as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    sf_die "need root to run: $* (run as root or install sudo)"
  fi
}

SF_APT_UPDATED=""
# Installs Debian packages quietly; the full output goes to a log shown only on failure.
sf_apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    sf_die "missing packages: $* (no apt-get here: install them with your system's package manager)"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/storefront-apt.XXXXXX")"
  sf_info "installing Debian packages: $*"
  if [[ -z "$SF_APT_UPDATED" ]]; then
    if ! sf_as_root apt-get update -qq >"$log" 2>&1; then
      cat "$log" >&2
      sf_die "apt-get update failed"
    fi
    SF_APT_UPDATED=1
  fi
  if ! sf_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    sf_die "apt-get install $* failed"
  fi
  rm -f "$log"
}

sf_deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# What the Rust build needs beyond cargo itself: C/C++ toolchain and cmake for aws-lc-sys and
# rdkafka-sys (librdkafka is built from source), perl and pkg-config for -sys build scripts,
# OpenSSL headers for crates that link it (cargo-installed tools). Installs only what is missing.
ensure_build_tools() {
  local -a missing=()
  local cmd pkg
  for cmd in cmake make gcc g++ perl pkg-config; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
      case "$cmd" in
        g++) pkg=g++ ;;
        *) pkg="$cmd" ;;
      esac
      missing+=("$pkg")
    fi
  done
  if ! sf_deb_installed libssl-dev && ! pkg-config --exists openssl 2>/dev/null; then
    missing+=(libssl-dev)
  fi
  if ((${#missing[@]} > 0)); then
    sf_apt_install "${missing[@]}"
  fi
  command -v cargo >/dev/null 2>&1 || sf_die "cargo not found: install the Rust toolchain (rustup)"
}

# Succeeds when something accepts TCP connections on 127.0.0.1:<port>.
sf_port_open() {
  # shellcheck disable=SC2016 # $1 is expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Exports CARGO_TARGET_DIR (shared build cache outside the work tree unless the caller set one).
sf_export_target_dir() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SF_DEFAULT_TARGET_DIR}"
}

# Seconds since the epoch, for step timings.
sf_now() { date +%s; }

# Formats a duration in seconds as 1m05s.
sf_fmt_duration() {
  local s="$1"
  if ((s >= 60)); then
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  else
    printf '%ds' "$s"
  fi
}

# Node.js for the web shop (web/: Vite needs Node.js 20.19 or newer, with npm).
ensure_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    sf_die "Node.js 20.19+ and npm are needed to build the web shop (web/): install them (https://nodejs.org, or your package manager) and run again"
  fi
  local v
  v="$(node -p 'process.versions.node')"
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  if ((major < 20 || (major == 20 && minor < 19))); then
    sf_die "Node.js $v is too old for the web shop (web/): install Node.js 20.19 or newer"
  fi
}

# Debian's chromium, the browser the web shop's browser test drives (playwright-core).
ensure_chromium() {
  if [[ -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
    return 0
  fi
  sf_apt_install chromium
}

# Installs the web shop's locked dependencies (only when the lock file changed since the last
# install) and builds it into web/dist.
build_web() {
  ensure_node
  local web="$SF_REPO_ROOT/web"
  if [[ ! -f "$web/node_modules/.package-lock.json" || "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]]; then
    sf_info "installing the web shop's dependencies (npm ci)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  fi
  sf_info "building the web shop into web/dist"
  (cd "$web" && npm run --silent build -- --logLevel warn) || return 1
}
