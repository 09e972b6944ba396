# Sourced by the benchmarks that run one max-dev binary against moto:
#   source "$(dirname "$0")/lib.sh"; bench_run BINARY "$@"
# From the repository root, with the shared target directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/max/target}"

# bench_run BINARY [--release] ARGS...: moto's venv ready, BINARY built (debug, or optimised with
# --release), then run with ARGS (warnings and errors only in its log).
bench_run() {
  local binary=$1 profile=debug
  shift
  if [[ "${1:-}" == "--release" ]]; then
    profile=release
    shift
  fi
  infra/scripts/venv.sh
  local build=(cargo build -q -p max-dev --bin "$binary")
  [[ $profile == release ]] && build+=(--release)
  "${build[@]}"
  RUST_LOG=warn "$CARGO_TARGET_DIR/$profile/$binary" "$@"
}
