#!/usr/bin/env bash
# The in-memory layer benchmark (benches/layer.rs, criterion), optionally before and after in the
# same run: with BEFORE_REV the harness is also built over that revision (before.sh) and the two
# alternate, round after round, so both see the same machine state.
#
#   crates/tollgate-bench/layer.sh                                  # current tree, 3 rounds
#   BEFORE_REV=e808fa0 ROUNDS=3 MEASUREMENT=4 crates/tollgate-bench/layer.sh
#   BEFORE_REV=e808fa0 FILTER=cache-hit crates/tollgate-bench/layer.sh     # a subset (a regex)
#
# Writes every round's criterion medians to $OUT/layer.tsv (case, variant, round, ns) and prints
# the medians over the rounds, the before/after ratio and the differences the targets use
# (cache hit - no-auth and - handoff, miss - sig-only floor, MultiIssuer hit - single-issuer hit).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
MEASUREMENT=${MEASUREMENT:-4}
FILTER=${FILTER:-}
OUT=${OUT:-target/bench-layer/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

variants=(after)
before_src=
if [ -n "${BEFORE_REV:-}" ]; then
  before_src=$(crates/tollgate-bench/before.sh "$BEFORE_REV")
  variants+=(before)
  echo "$BEFORE_REV = $(cat "$before_src/../rev")" >"$OUT/before-rev.txt"
fi

cargo_in() { # variant, cargo arguments...
  local variant=$1
  shift
  if [ "$variant" = after ]; then
    cargo "$@"
  else
    # the feature goes right after the subcommand, before any `--` of the bench's own arguments
    (cd "$before_src" && CARGO_TARGET_DIR="$PWD/../target" cargo "$1" --features legacy-api "${@:2}")
  fi
}
# each variant's criterion data in its own place under $OUT (absolute: criterion runs in the
# package directory)
criterion_dir() { echo "$OUT/criterion-$1"; }

echo "==> building (bench profile): ${variants[*]}"
for v in "${variants[@]}"; do
  cargo_in "$v" bench -p tollgate-bench --bench layer --no-run
done

printf 'case\tvariant\tround\tns\n' >"$OUT/layer.tsv"
for round in $(seq "$ROUNDS"); do
  order=("${variants[@]}")
  # alternate which variant runs first
  if [ $((round % 2)) -eq 0 ] && [ ${#order[@]} -eq 2 ]; then order=("${order[1]}" "${order[0]}"); fi
  for v in "${order[@]}"; do
    echo "==> round $round: $v (load $(cut -d' ' -f1-3 /proc/loadavg))"
    marker=$OUT/.marker-$v-$round
    touch "$marker"
    # shellcheck disable=SC2086 # FILTER is one criterion filter or nothing
    crit=$(criterion_dir "$v")
    CRITERION_HOME=$crit cargo_in "$v" bench -p tollgate-bench --bench layer -- --measurement-time "$MEASUREMENT" \
      --noplot $FILTER 2>&1 | tee "$OUT/criterion-$v-$round.log" | grep -E '^layer/|time:|cache [0-9]+ hits' || true
    [ -d "$crit" ] || { echo "no criterion output in $crit (see $OUT/criterion-$v-$round.log)" >&2; exit 1; }
    find "$crit" -path '*/new/estimates.json' -newer "$marker" | while read -r f; do
      case_name=$(basename "$(dirname "$(dirname "$f")")")
      ns=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' "$f")
      printf '%s\t%s\t%s\t%s\n' "$case_name" "$v" "$round" "$ns" >>"$OUT/layer.tsv"
    done
  done
done

python3 - "$OUT/layer.tsv" >"$OUT/table.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
runs = {}
for r in rows:
    runs.setdefault((r["case"], r["variant"]), []).append(float(r["ns"]))
ORDER = ["no-auth", "handoff", "sig-only", "tollgate-cache-hit", "tollgate-reuse-1000",
         "tollgate-multi-issuer-hit", "tollgate-cache-churn", "tollgate-cache-off",
         "tollgate-refuse-expired"]
seen = list(dict.fromkeys(r["case"] for r in rows))
cases = [c for c in ORDER if c in seen] + [c for c in seen if c not in ORDER]
variants = [v for v in ("before", "after") if any(k[1] == v for k in runs)]
med = {k: statistics.median(v) for k, v in runs.items()}
def us(ns):
    return "-" if ns is None else f"{ns / 1000:.2f}"
print("| case | " + " | ".join(f"{v} us (median of {max(len(runs.get((c, v), [])) for c in cases)})" for v in variants)
      + (" | after x before (time) |" if len(variants) == 2 else " |"))
print("|---|" + "---:|" * len(variants) + ("---:|" if len(variants) == 2 else ""))
for c in cases:
    cells = [us(med.get((c, v))) for v in variants]
    line = f"| {c} | " + " | ".join(cells)
    if len(variants) == 2 and (c, "before") in med and (c, "after") in med:
        line += f" | {med[(c, 'after')] / med[(c, 'before')]:.2f}"
    elif len(variants) == 2:
        line += " | -"
    print(line + " |")
print()
print("Differences (us; the targets: a miss <= sig-only + 1.5 us, a MultiIssuer hit = a hit):")
print()
print("| difference | " + " | ".join(variants) + " |")
print("|---|" + "---:|" * len(variants))
for label, a, b in (("cache hit - no-auth", "tollgate-cache-hit", "no-auth"),
                    ("cache hit - handoff", "tollgate-cache-hit", "handoff"),
                    ("handoff - no-auth", "handoff", "no-auth"),
                    ("reuse-1000 hit - no-auth", "tollgate-reuse-1000", "no-auth"),
                    ("MultiIssuer hit - single-issuer hit", "tollgate-multi-issuer-hit", "tollgate-cache-hit"),
                    ("cache off - sig-only", "tollgate-cache-off", "sig-only"),
                    ("miss (churn) - sig-only", "tollgate-cache-churn", "sig-only")):
    cells = []
    for v in variants:
        x, y = med.get((a, v)), med.get((b, v))
        cells.append("-" if x is None or y is None else f"{(x - y) / 1000:+.2f}")
    print(f"| {label} | " + " | ".join(cells) + " |")
PY
echo
cat "$OUT/table.md"
echo
echo "raw: $OUT/layer.tsv; criterion logs: $OUT/criterion-*.log"
