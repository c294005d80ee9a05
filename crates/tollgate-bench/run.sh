#!/usr/bin/env bash
# HTTP benchmark: the same small axum contract with no auth, behind Tollgate (token cache on and
# off), behind a plain `jsonwebtoken` middleware, behind jwt-authorizer and behind axum-jwt-auth,
# driven by wrk over loopback. Servers alternate within each round; the table reports medians.
#
#   crates/tollgate-bench/run.sh                      # everything (~25 min)
#   SCENARIOS="rs256-single rs256-pool" crates/tollgate-bench/run.sh
#
# Knobs (environment): SCENARIOS, MODES (the servers of the non-refusal scenarios; add
# `sig-only`, the no-auth app plus a bare RS256 signature check, for the physical floor),
# ROUNDS_MAIN (5, the RS256 scenarios), ROUNDS (3, the rest),
# DURATION (wrk seconds, 4), CONNECTIONS (32), SERVER_CPU (0), CLIENT_CPU (1), OUT (directory).
# The server is pinned to SERVER_CPU with taskset and wrk (-t1) to CLIENT_CPU. Server CPU time
# per request is utime+stime of the server process (/proc/<pid>/stat) over the wrk run divided
# by the requests wrk completed; user CPU (utime alone) is reported too, because the kernel part
# grows when the server is slower (each response then wakes an idle wrk on the other core).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS_MAIN=${ROUNDS_MAIN:-5}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18080}
OUT=${OUT:-target/bench-http/$(date +%Y%m%d-%H%M%S)}
SCENARIOS=${SCENARIOS:-"rs256-single rs256-pool es256-single es256-pool eddsa-single hs256-single public rs256-forged rs256-expired rs256-unknown-kid"}
# Pools of valid tokens are larger than what one run can consume, so with the cache on every
# request of a pool scenario is a miss (checked: the Tollgate server's /stats is logged).
POOL_RS256=${POOL_RS256:-100000}
POOL_ES256=${POOL_ES256:-60000}
POOL_REFUSE=${POOL_REFUSE:-1000}

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk"
  apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
fi

echo "==> building (release)"
cargo build --release -p tollgate-bench
BIN=target/release
TOKENS=target/bench-http/tokens
mkdir -p "$TOKENS" "$OUT"

# token files, minted once with the committed keys (fixtures/keys.json)
mint() { # name alg kind count
  local file="$TOKENS/$1.txt"
  if [ ! -s "$file" ] || [ "$(wc -l <"$file")" -ne "$4" ]; then
    echo "==> minting $1 ($4 x $2 $3)"
    "$BIN/bench-tokens" --alg "$2" --kind "$3" --count "$4" >"$file.tmp"
    mv "$file.tmp" "$file"
  fi
}
mint rs256-single RS256 valid 1
mint rs256-warm RS256 valid 1
mint rs256-pool RS256 valid "$POOL_RS256"
mint es256-single ES256 valid 1
mint es256-warm ES256 valid 1
mint es256-pool ES256 valid "$POOL_ES256"
mint eddsa-single EdDSA valid 1
mint eddsa-warm EdDSA valid 1
mint hs256-single HS256 valid 1
mint hs256-warm HS256 valid 1
mint rs256-forged RS256 forged "$POOL_REFUSE"
mint rs256-expired RS256 expired "$POOL_REFUSE"
mint rs256-unknown-kid RS256 unknown-kid "$POOL_REFUSE"

# wrk script rotating through a token file (one Lua state per wrk thread; -t1)
cat >"$OUT/pool.lua" <<'LUA'
local tokens, n, i = {}, 0, 0
for line in io.lines(os.getenv("TOKENS_FILE")) do
  n = n + 1
  tokens[n] = "Bearer " .. line
end
request = function()
  i = i % n + 1
  return wrk.format("GET", "/me", { Authorization = tokens[i] })
end
LUA

ALL_MODES=${MODES:-"noauth tollgate tollgate-nocache plain jwt-authorizer axum-jwt-auth"}
REFUSE_MODES="tollgate plain jwt-authorizer axum-jwt-auth"
# scenario -> alg, token file, how wrk sends it (header = one token; pool = Lua), route, modes, rounds
scenario() {
  case $1 in
    rs256-single) echo "RS256 rs256-single header /me main all" ;;
    rs256-pool) echo "RS256 rs256-pool pool /me main all" ;;
    es256-single) echo "ES256 es256-single header /me rest all" ;;
    es256-pool) echo "ES256 es256-pool pool /me rest all" ;;
    eddsa-single) echo "EdDSA eddsa-single header /me rest all" ;;
    hs256-single) echo "HS256 hs256-single header /me rest all" ;;
    public) echo "RS256 none none /public rest all" ;;
    rs256-forged) echo "RS256 rs256-forged pool /me rest refuse" ;;
    rs256-expired) echo "RS256 rs256-expired pool /me rest refuse" ;;
    rs256-unknown-kid) echo "RS256 rs256-unknown-kid pool /me rest refuse" ;;
    *) echo "unknown scenario $1" >&2; exit 1 ;;
  esac
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
to_us() { # wrk latency (e.g. 1.23ms, 850.00us, 1.02s) -> microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'
}

RESULTS="$OUT/results.tsv"
printf 'scenario\tmode\tround\trps\tp50_us\tp99_us\tcpu_us_per_req\trequests\tnon2xx\tuser_us_per_req\n' >"$RESULTS"
STATS="$OUT/tollgate-stats.log"
CLK_TCK=$(getconf CLK_TCK)
echo "==> load before: $(cat /proc/loadavg)" | tee "$OUT/load.log"

run_one() { # scenario mode round
  local sc=$1 mode=$2 round=$3
  read -r alg file how route _ _ <<<"$(scenario "$sc")"
  taskset -c "$SERVER_CPU" "$BIN/bench-server" "$mode" "$PORT" --alg "$alg" 2>"$OUT/server.err" &
  local pid=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/public" && break
    sleep 0.1
  done
  # warm-up: connections, allocator, key fetch, with a token that is not in any measured pool
  local warm="$TOKENS/${alg,,}-warm.txt"
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d1s -H "Authorization: Bearer $(cat "$warm")" \
    "http://127.0.0.1:$PORT/me" >/dev/null
  local before after user_before user_after out
  before=$(cpu_ticks "$pid")
  user_before=$(user_ticks "$pid")
  case $how in
    header)
      out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $(cat "$TOKENS/$file.txt")" "http://127.0.0.1:$PORT$route") ;;
    pool)
      out=$(TOKENS_FILE="$TOKENS/$file.txt" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" \
        -d"${DURATION}s" --latency -s "$OUT/pool.lua" "http://127.0.0.1:$PORT$route") ;;
    none)
      out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        "http://127.0.0.1:$PORT$route") ;;
  esac
  after=$(cpu_ticks "$pid")
  user_after=$(user_ticks "$pid")
  if [[ $mode == tollgate* ]]; then
    echo "$sc $mode round $round: $(curl -s "http://127.0.0.1:$PORT/stats")" >>"$STATS"
  fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local rps requests non2xx p50 p99 cpu user
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  p50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
  user=$(awk -v t=$((user_after - user_before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$mode" "$round" "$rps" "$p50" "$p99" "$cpu" \
    "$requests" "${non2xx:-0}" "$user" >>"$RESULTS"
  printf '  %-18s %-17s round %s: %10s req/s  p50 %8s us  p99 %8s us  cpu %7s us/req (user %s)  non-2xx %s\n' \
    "$sc" "$mode" "$round" "$rps" "$p50" "$p99" "$cpu" "$user" "${non2xx:-0}"
}

for sc in $SCENARIOS; do
  read -r _ _ _ _ rounds_kind modes_kind <<<"$(scenario "$sc")"
  rounds=$ROUNDS
  [ "$rounds_kind" = main ] && rounds=$ROUNDS_MAIN
  modes=$ALL_MODES
  [ "$modes_kind" = refuse ] && modes=$REFUSE_MODES
  read -r -a order <<<"$modes"
  echo "==> $sc ($rounds rounds; load $(cut -d' ' -f1-3 /proc/loadavg))"
  for round in $(seq "$rounds"); do
    # rotate the order every round so no server always runs first or last
    local_order=("${order[@]:$(((round - 1) % ${#order[@]}))}" "${order[@]:0:$(((round - 1) % ${#order[@]}))}")
    for mode in "${local_order[@]}"; do
      run_one "$sc" "$mode" "$round"
    done
  done
done
echo "==> load after: $(cat /proc/loadavg)" | tee -a "$OUT/load.log"

python3 crates/tollgate-bench/summarize.py "$RESULTS" >"$OUT/table.md"
echo
cat "$OUT/table.md"
echo
echo "raw results: $RESULTS; Tollgate cache/JWKS counters: $STATS; load: $OUT/load.log"
