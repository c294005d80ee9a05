#!/usr/bin/env bash
# Prepares this benchmark harness over an earlier revision of the library, for before/after
# measurements in the same run (run.sh BEFORE_REV=..., layer.sh BEFORE_REV=...):
#
#   crates/tollgate-bench/before.sh <rev>     # prints the source directory
#
# The revision is exported (`git archive`: no worktree bookkeeping in .git, nothing in the
# checkout changes) to target/bench-before/<rev>/src once; then crates/tollgate-bench of this
# checkout (servers, keys, token minting, benches) is copied over the revision's own, so only the
# library differs. Build it there with `--features legacy-api` (the pre-redesign spelling of the
# calls in src/api.rs) and CARGO_TARGET_DIR=target/bench-before/<rev>/target, which is kept:
# later runs with the same revision rebuild only what changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 1 ] || { echo "usage: $0 <git rev>" >&2; exit 2; }
rev=$(git rev-parse --verify "$1^{commit}")
dir=target/bench-before/${rev:0:12}
if [ ! -f "$dir/src/Cargo.toml" ]; then
  echo "==> exporting $1 ($rev) to $dir/src" >&2
  rm -rf "$dir/src.tmp"
  mkdir -p "$dir/src.tmp"
  git archive "$rev" | tar -x -C "$dir/src.tmp"
  mv "$dir/src.tmp" "$dir/src"
fi
# cp -a keeps the files' times, so unchanged files rebuild nothing.
rm -rf "$dir/src/crates/tollgate-bench"
mkdir -p "$dir/src/crates/tollgate-bench"
cp -a crates/tollgate-bench/Cargo.toml crates/tollgate-bench/src crates/tollgate-bench/benches \
  crates/tollgate-bench/examples crates/tollgate-bench/fixtures "$dir/src/crates/tollgate-bench/"
echo "$rev" >"$dir/rev"
echo "$dir/src"
