#!/usr/bin/env bash
# HTTP benchmark: the same small axum contract with no auth, behind Tollgate (token cache on and
# off), behind a plain `jsonwebtoken` middleware, behind jwt-authorizer and behind axum-jwt-auth,
# driven by wrk over loopback. Servers alternate within each round; the table reports medians.
#
#   crates/tollgate-bench/run.sh                      # everything (~30 min; ~35 with BEFORE_REV)
#   SCENARIOS="rs256-single rs256-pool" crates/tollgate-bench/run.sh
#   BEFORE_REV=e808fa0 SCENARIOS="zipf multi-hits" crates/tollgate-bench/run.sh   # before/after
#
# Scenarios (all RS256 unless named otherwise): rs256-single (one token: cache hits),
# rs256-reuse1000 (1,000 tokens round-robin: cache hits, many users), rs256-pool (100k tokens:
# every request a miss), multi-hits (one token behind a two-issuer MultiIssuer: Tollgate modes and
# no-auth only), zipf (10,000 users at two issuers reusing their tokens with Zipf(1.1)
# popularity, 5% of requests refused: expired, forged, unknown kid), es256-single, es256-pool,
# eddsa-single, hs256-single, public (a route outside the layer), rs256-forged, rs256-expired,
# rs256-unknown-kid (refusals).
#
# Knobs (environment): SCENARIOS, MODES (the servers of the non-refusal single-issuer scenarios;
# add `sig-only`, the no-auth app plus a bare RS256 signature check, for the physical floor,
# and `handoff`, the no-auth app behind a layer that only hands the handler a fixed identity
# through the request extensions, for the floor of any layer's cache hit),
# REFUSE_MODES, MULTI_MODES, ZIPF_MODES (the servers of the refusal, multi-hits and zipf
# scenarios), ROUNDS_MAIN (5, the RS256 scenarios), ROUNDS (3, the rest),
# DURATION (wrk seconds, 4), CONNECTIONS (32), SERVER_CPU (0), CLIENT_CPU (1), OUT (directory),
# POOL_RS256 / POOL_ES256 / POOL_REFUSE / POOL_REUSE (pool sizes), ZIPF_USERS, ZIPF_REQUESTS,
# ZIPF_S, ZIPF_REFUSED_PERCENT, ZIPF_SEED, ZIPF_WARM (the zipf workload and its warm-up seconds).
#
# BEFORE_REV=<git rev> (e.g. e808fa0, the code before issue 13's redesign) adds the server mode
# `tollgate-before` next to `tollgate` in every scenario (and `tollgate-before-nocache` next to
# `tollgate-nocache` with BEFORE_NOCACHE=1), so every table has before and after from the same
# rounds. before.sh exports that revision to target/bench-before/<rev>/src and copies this
# harness (crates/tollgate-bench: servers, keys, token minting) over its own; it is built there
# with `--features legacy-api` into target/bench-before/<rev>/target, release, kept across runs.
# Only the library differs between `tollgate` and `tollgate-before` (and the revision's own
# release profile applies to it). The in-memory layer benchmark has the same switch (layer.sh).
#
# Output in $OUT: results.tsv (every round), table.md (summarize.py: medians, ratios, before /
# after, the issue 13 targets), chart.svg and zipf.svg (chart.py), tollgate-stats.log (Tollgate's
# cache and JWKS counters after the warm-up and after each run), load.log.
#
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
SCENARIOS=${SCENARIOS:-"rs256-single rs256-reuse1000 rs256-pool multi-hits zipf es256-single es256-pool eddsa-single hs256-single public rs256-forged rs256-expired rs256-unknown-kid"}
# Pools of valid tokens are larger than what one run can consume, so with the cache on every
# request of a pool scenario is a miss (checked: the Tollgate server's /stats is logged).
POOL_RS256=${POOL_RS256:-100000}
POOL_ES256=${POOL_ES256:-60000}
POOL_REFUSE=${POOL_REFUSE:-1000}
POOL_REUSE=${POOL_REUSE:-1000}
# The zipf scenario (tollgate_bench::ZipfWorkload): users, request sequence length, exponent,
# refused share, seed.
ZIPF_USERS=${ZIPF_USERS:-10000}
ZIPF_REQUESTS=${ZIPF_REQUESTS:-1000000}
ZIPF_S=${ZIPF_S:-1.1}
ZIPF_REFUSED_PERCENT=${ZIPF_REFUSED_PERCENT:-5}
ZIPF_SEED=${ZIPF_SEED:-13}
# its warm-up: seconds of wrk walking every distinct token round-robin (11,500 tokens; at least
# two passes at Tollgate's uncached rate)
ZIPF_WARM=${ZIPF_WARM:-3}

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk"
  apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
fi

echo "==> building (release)"
cargo build --release -p tollgate-bench
BIN=target/release
TOKENS=target/bench-http/tokens
mkdir -p "$TOKENS" "$OUT"

BEFORE_BIN=
if [ -n "${BEFORE_REV:-}" ]; then
  before_src=$(crates/tollgate-bench/before.sh "$BEFORE_REV")
  echo "==> building the harness against $BEFORE_REV (release, --features legacy-api)"
  (cd "$before_src" && CARGO_TARGET_DIR="$PWD/../target" \
    cargo build --release -p tollgate-bench --features legacy-api --bins)
  BEFORE_BIN=$before_src/../target/release/bench-server
  echo "$BEFORE_REV = $(cat "$before_src/../rev")" >"$OUT/before-rev.txt"
fi

# token files, minted once with the committed keys (fixtures/keys.json)
mint() { # name alg kind count
  local file="$TOKENS/$1.txt"
  if [ ! -s "$file" ] || [ "$(wc -l <"$file")" -ne "$4" ]; then
    echo "==> minting $1 ($4 x $2 $3)"
    "$BIN/bench-tokens" --alg "$2" --kind "$3" --count "$4" >"$file.tmp"
    mv "$file.tmp" "$file"
  fi
}
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; } # the pools are minted only for their scenario
mint rs256-single RS256 valid 1
mint rs256-warm RS256 valid 1
if wanted rs256-pool; then mint rs256-pool RS256 valid "$POOL_RS256"; fi
mint es256-single ES256 valid 1
mint es256-warm ES256 valid 1
if wanted es256-pool; then mint es256-pool ES256 valid "$POOL_ES256"; fi
mint eddsa-single EdDSA valid 1
mint eddsa-warm EdDSA valid 1
mint hs256-single HS256 valid 1
mint hs256-warm HS256 valid 1
if wanted rs256-forged; then mint rs256-forged RS256 forged "$POOL_REFUSE"; fi
if wanted rs256-expired; then mint rs256-expired RS256 expired "$POOL_REFUSE"; fi
if wanted rs256-unknown-kid; then mint rs256-unknown-kid RS256 unknown-kid "$POOL_REFUSE"; fi
if wanted rs256-reuse1000; then mint rs256-reuse1000 RS256 valid "$POOL_REUSE"; fi
ZIPF=$TOKENS/zipf-$ZIPF_USERS-$ZIPF_REQUESTS-$ZIPF_S-$ZIPF_REFUSED_PERCENT-$ZIPF_SEED
if wanted zipf && [ ! -s "$ZIPF.seq" ]; then
  echo "==> minting the zipf workload ($ZIPF_USERS users at two issuers, $ZIPF_REQUESTS requests)"
  "$BIN/bench-tokens" --zipf "$ZIPF" --users "$ZIPF_USERS" --requests "$ZIPF_REQUESTS" \
    --s "$ZIPF_S" --refused-percent "$ZIPF_REFUSED_PERCENT" --seed "$ZIPF_SEED"
fi

# wrk script rotating through a token file (one Lua state per wrk thread; -t1). The requests are
# formatted once, in init (where wrk has set the Host header), so wrk spends nothing per request
# on Lua string building.
cat >"$OUT/pool.lua" <<'LUA'
local requests, n, i = {}, 0, 0
function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    n = n + 1
    requests[n] = wrk.format("GET", "/me", { Authorization = "Bearer " .. line })
  end
end
request = function()
  i = i % n + 1
  return requests[i]
end
LUA
# wrk script walking a pre-generated request sequence (1-based line numbers of TOKENS_FILE in
# SEQ_FILE), from line SEQ_START + 1, wrapping around.
cat >"$OUT/seq.lua" <<'LUA'
local requests, seq, m, i = {}, {}, 0, 0
function init(args)
  local n = 0
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    n = n + 1
    requests[n] = wrk.format("GET", "/me", { Authorization = "Bearer " .. line })
  end
  for line in io.lines(os.getenv("SEQ_FILE")) do
    m = m + 1
    seq[m] = tonumber(line)
  end
  i = tonumber(os.getenv("SEQ_START") or "0") % m
end
request = function()
  i = i % m + 1
  return requests[seq[i]]
end
LUA

ALL_MODES=${MODES:-"noauth tollgate tollgate-nocache plain jwt-authorizer axum-jwt-auth"}
REFUSE_MODES=${REFUSE_MODES:-"tollgate plain jwt-authorizer axum-jwt-auth"}
MULTI_MODES=${MULTI_MODES:-"noauth tollgate"}
ZIPF_MODES=${ZIPF_MODES:-"noauth tollgate plain jwt-authorizer axum-jwt-auth"}
with_before() { # mode list -> the same with the before modes next to their current ones
  local out=() m
  for m in $1; do
    out+=("$m")
    if [ -n "$BEFORE_BIN" ]; then
      [ "$m" = tollgate ] && [[ " $1 " != *" tollgate-before "* ]] && out+=(tollgate-before)
      [ "$m" = tollgate-nocache ] && [ "${BEFORE_NOCACHE:-0}" = 1 ] &&
        [[ " $1 " != *" tollgate-before-nocache "* ]] && out+=(tollgate-before-nocache)
    fi
  done
  echo "${out[*]}"
}
ALL_MODES=$(with_before "$ALL_MODES")
REFUSE_MODES=$(with_before "$REFUSE_MODES")
MULTI_MODES=$(with_before "$MULTI_MODES")
ZIPF_MODES=$(with_before "$ZIPF_MODES")
# scenario -> alg, token file, how wrk sends it (header = one token; pool = Lua rotating through
# the file; seq = Lua walking a request sequence), route, rounds, modes, issuers, warm-up (token =
# a token of no measured pool; same = the scenario's own tokens round-robin, so what is measured
# is the steady state of reuse)
scenario() {
  case $1 in
    rs256-single) echo "RS256 rs256-single header /me main all 1 token" ;;
    rs256-reuse1000) echo "RS256 rs256-reuse1000 pool /me main all 1 same" ;;
    rs256-pool) echo "RS256 rs256-pool pool /me main all 1 token" ;;
    multi-hits) echo "RS256 rs256-single header /me main multi 2 token" ;;
    zipf) echo "RS256 zipf seq /me main zipf 2 same" ;;
    es256-single) echo "ES256 es256-single header /me rest all 1 token" ;;
    es256-pool) echo "ES256 es256-pool pool /me rest all 1 token" ;;
    eddsa-single) echo "EdDSA eddsa-single header /me rest all 1 token" ;;
    hs256-single) echo "HS256 hs256-single header /me rest all 1 token" ;;
    public) echo "RS256 none none /public rest all 1 token" ;;
    rs256-forged) echo "RS256 rs256-forged pool /me rest refuse 1 token" ;;
    rs256-expired) echo "RS256 rs256-expired pool /me rest refuse 1 token" ;;
    rs256-unknown-kid) echo "RS256 rs256-unknown-kid pool /me rest refuse 1 token" ;;
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
  read -r alg file how route _ _ issuers warm_kind <<<"$(scenario "$sc")"
  local bin=$BIN/bench-server server_mode=$mode
  if [[ $mode == tollgate-before* ]]; then
    bin=$BEFORE_BIN
    server_mode=${mode/-before/}
  fi
  taskset -c "$SERVER_CPU" "$bin" "$server_mode" "$PORT" --alg "$alg" --issuers "$issuers" \
    2>"$OUT/server.err" &
  local pid=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/public" && break
    sleep 0.1
  done
  # warm-up: connections, allocator, key fetch; with a token that is not in any measured pool,
  # or (reuse scenarios) with the scenario's own requests, whose steady state is measured
  local tokens_file=$TOKENS/$file.txt
  [ "$how" = seq ] && tokens_file=$ZIPF.tokens
  if [ "$warm_kind" = same ] && [ "$how" = pool ]; then
    TOKENS_FILE="$tokens_file" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d1s \
      -s "$OUT/pool.lua" "http://127.0.0.1:$PORT$route" >/dev/null
  elif [ "$warm_kind" = same ] && [ "$how" = seq ]; then
    # every distinct token in turn (a token is cached on its second sighting): the steady state
    # of a service whose users have all been seen, not its first minutes
    TOKENS_FILE="$tokens_file" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" \
      -d"${ZIPF_WARM}s" -s "$OUT/pool.lua" "http://127.0.0.1:$PORT$route" >/dev/null
  else
    local warm="$TOKENS/${alg,,}-warm.txt"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d1s -H "Authorization: Bearer $(cat "$warm")" \
      "http://127.0.0.1:$PORT/me" >/dev/null
  fi
  local before after user_before user_after out stats_before=
  if [[ $mode == tollgate* ]]; then stats_before=$(curl -s "http://127.0.0.1:$PORT/stats"); fi
  before=$(cpu_ticks "$pid")
  user_before=$(user_ticks "$pid")
  case $how in
    header)
      out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $(cat "$tokens_file")" "http://127.0.0.1:$PORT$route") ;;
    pool)
      out=$(TOKENS_FILE="$tokens_file" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" \
        -d"${DURATION}s" --latency -s "$OUT/pool.lua" "http://127.0.0.1:$PORT$route") ;;
    seq)
      out=$(TOKENS_FILE="$tokens_file" SEQ_FILE="$ZIPF.seq" SEQ_START=0 taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$OUT/seq.lua" \
        "http://127.0.0.1:$PORT$route") ;;
    none)
      out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        "http://127.0.0.1:$PORT$route") ;;
  esac
  after=$(cpu_ticks "$pid")
  user_after=$(user_ticks "$pid")
  if [[ $mode == tollgate* ]]; then
    # the counters are cumulative: after the warm-up, then after the measured run
    echo "$sc $mode round $round: after warm-up $stats_before" >>"$STATS"
    echo "$sc $mode round $round: after the run $(curl -s "http://127.0.0.1:$PORT/stats")" >>"$STATS"
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
  read -r _ _ _ _ rounds_kind modes_kind _ _ <<<"$(scenario "$sc")"
  rounds=$ROUNDS
  [ "$rounds_kind" = main ] && rounds=$ROUNDS_MAIN
  case $modes_kind in
    refuse) modes=$REFUSE_MODES ;;
    multi) modes=$MULTI_MODES ;;
    zipf) modes=$ZIPF_MODES ;;
    *) modes=$ALL_MODES ;;
  esac
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
python3 crates/tollgate-bench/chart.py "$RESULTS" -o "$OUT/chart.svg"
if [[ " $SCENARIOS " == *" zipf "* ]]; then
  python3 crates/tollgate-bench/chart.py "$RESULTS" --scenario zipf -o "$OUT/zipf.svg" \
    --title "Tollgate HTTP benchmark: 10,000 users, Zipf(1.1) token reuse, two issuers"
fi
echo
cat "$OUT/table.md"
echo
echo "raw results: $RESULTS; Tollgate cache/JWKS counters: $STATS; load: $OUT/load.log"
echo "charts: $OUT/chart.svg$([[ " $SCENARIOS " == *" zipf "* ]] && echo " $OUT/zipf.svg")"
