#!/usr/bin/env bash
# Instructions per request in memory, per mode of examples/instructions.rs, counted by callgrind
# (valgrind): exact and repeatable, whatever else the machine is doing, so it can compare before
# and after a change on a busy machine. It does not see cache misses, contention or the network:
# the HTTP benchmark (run.sh) does.
#
#   crates/tollgate-bench/instructions.sh                       # the current tree
#   BEFORE_REV=e808fa0 crates/tollgate-bench/instructions.sh    # and that revision (before.sh)
#   MODES="off pool" REQUESTS=200 crates/tollgate-bench/instructions.sh
#
# Prints a table (instructions per request; with BEFORE_REV also before and after/before) and
# writes it with the raw counts to $OUT (default target/bench-instructions/<time>).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODES=${MODES:-"noauth handoff sig-only hit reuse multi-hit outer-hit off churn pool dpop-es256 dpop-eddsa"}
REQUESTS=${REQUESTS:-400}
OUT=${OUT:-target/bench-instructions/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }

variants=(after)
bin_after=$PWD/target/release/examples/instructions
echo "==> building (release): after"
cargo build --quiet --release -p tollgate-bench --example instructions
if [ -n "${BEFORE_REV:-}" ]; then
  before_src=$(crates/tollgate-bench/before.sh "$BEFORE_REV")
  echo "==> building (release): before ($BEFORE_REV)"
  (cd "$before_src" && CARGO_TARGET_DIR="$PWD/../target" \
    cargo build --quiet --release -p tollgate-bench --features legacy-api --example instructions)
  bin_before=$before_src/../target/release/examples/instructions
  variants+=(before)
fi

printf 'mode\tvariant\trequests\tinstructions\n' >"$OUT/instructions.tsv"
for mode in $MODES; do
  for v in "${variants[@]}"; do
    # DPoP did not exist before: those modes run on the current tree only.
    [ "$v" = before ] && [[ $mode == dpop-* ]] && continue
    bin=bin_$v
    total=$(valgrind --tool=callgrind --collect-atstart=no --toggle-collect='instructions::measure' \
      --callgrind-out-file="$OUT/callgrind.$mode.$v.out" "${!bin}" "$mode" "$REQUESTS" 2>&1 |
      sed -n 's/.*Collected : //p')
    printf '%s\t%s\t%s\t%s\n' "$mode" "$v" "$REQUESTS" "$total" >>"$OUT/instructions.tsv"
    echo "    $mode $v: $total"
  done
done

python3 - "$OUT/instructions.tsv" >"$OUT/table.md" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
per = {(r["mode"], r["variant"]): int(r["instructions"]) / int(r["requests"]) for r in rows}
modes = list(dict.fromkeys(r["mode"] for r in rows))
before = any(v == "before" for _, v in per)
# What Tollgate adds over its floor: no-auth for cache hits, no-auth plus the bare signature
# check (sig-only) for full verifications.
HITS = ("handoff", "hit", "reuse", "multi-hit", "outer-hit", "dpop-es256", "dpop-eddsa")
floors = {"noauth": None, "sig-only": None}
head = "| mode | after | after - floor |" + (" before | after / before |" if before else "")
print(head)
print("|---|" + "---:|" * (head.count("|") - 2))
for m in modes:
    a = per.get((m, "after"))
    floor = per.get(("noauth" if m in HITS else "sig-only", "after"))
    over = "-" if m in floors or floor is None else f"{a - floor:+,.0f} ({'no-auth' if m in HITS else 'sig-only'})"
    # a hit also against the hand-off floor (any layer handing claims to the handler)
    handoff = per.get(("handoff", "after"))
    if m in ("hit", "reuse", "multi-hit") and handoff is not None:
        over += f", {a - handoff:+,.0f} (handoff)"
    cells = [m, f"{a:,.0f}", over]
    if before:
        b = per.get((m, "before"))
        cells += [f"{b:,.0f}" if b else "-", f"{a / b:.3f}" if b else "-"]
    print("| " + " | ".join(cells) + " |")
PY
cat "$OUT/table.md"
echo "raw: $OUT/instructions.tsv"
