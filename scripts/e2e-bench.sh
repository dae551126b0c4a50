#!/usr/bin/env bash
# End-to-end cost of BearerAuthLayer: the same plain hyper server (examples/bench_server.rs)
# with and without the layer, each a separate process on 127.0.0.1, loaded by wrk from another
# process. The two variants alternate (ABBA) for ROUNDS rounds; each run reports requests/s,
# p50/p99 latency and the server's CPU time per request (utime+stime from /proc/<pid>/stat
# before and after the run, divided by the requests wrk completed). The summary gives
# min/median/max per variant and the ratio of the medians (layer / plain).
#
#   scripts/e2e-bench.sh                      # 5 rounds x 2 variants x 10 s, ~2-3 minutes
#   ROUNDS=9 DURATION=15 scripts/e2e-bench.sh
#
# Settings (environment): ROUNDS (5), DURATION seconds per run (10), CONNECTIONS (32),
# WRK_THREADS (1), TOKENS in the store (100000), SERVER_CPU / WRK_CPU (the cores to pin the
# server and wrk to with taskset, default 1 and 0; empty for no pinning), OUT (a directory for
# the raw wrk outputs and results.tsv, default a temporary one).
#
# Loopback only; bounded (every wrk run has a deadline); stops by itself and kills the servers
# it started on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
TOKENS=${TOKENS:-100000}
SERVER_CPU=${SERVER_CPU-1}
WRK_CPU=${WRK_CPU-0}
OUT=${OUT:-$(mktemp -d -t e2e-bench.XXXXXX)}
mkdir -p "$OUT"

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  else
    echo "wrk is required: apt-get install wrk" >&2
    exit 1
  fi
fi

pinned() { # pinned CPU: the command prefix that runs a program on core CPU (none if unset)
  if [ -n "$1" ] && command -v taskset >/dev/null 2>&1; then
    echo "taskset -c $1"
  fi
}

echo "== building examples/bench_server (release)"
cargo build --release --example bench_server --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
SERVER="$target_dir/release/examples/bench_server"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A PORT PID
start() { # start VARIANT [args]: runs a server, waits for its "ready <port> <token>" line
  local variant=$1
  shift
  local log="$OUT/server-$variant.log"
  # A simple command in the background: its pid is the server's own (taskset execs it), so
  # /proc/<pid>/stat is the server's and `kill` reaches it.
  # shellcheck disable=SC2046
  BENCH_TOKENS=$TOKENS $(pinned "$SERVER_CPU") "$SERVER" "$@" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 600); do
    if read -r word port token <"$log" 2>/dev/null && [ "$word" = ready ]; then
      PORT[$variant]=$port
      PID[$variant]=$pid
      TOKEN=$token
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $variant did not start:" >&2
  cat "$log" >&2
  exit 1
}

echo "== starting servers (store of $TOKENS tokens for the layer)"
start plain
start layer --layer

cpu_ticks() { # utime + stime of a process, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
CLK_TCK=$(getconf CLK_TCK)

to_us() { # wrk duration (12.34us, 1.20ms, 1.00s) -> microseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n
  }'
}

run() { # run VARIANT SECONDS [record]: one wrk run against VARIANT; with "record", append a result line
  local variant=$1 seconds=$2 record=${3:-}
  local url="http://127.0.0.1:${PORT[$variant]}/v1/me"
  local before after out
  before=$(cpu_ticks "${PID[$variant]}")
  # shellcheck disable=SC2046
  out=$($(pinned "$WRK_CPU") timeout $((seconds + 30)) wrk --latency -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${seconds}s" \
    -H "Authorization: Bearer $TOKEN" "$url")
  after=$(cpu_ticks "${PID[$variant]}")
  [ -n "$record" ] || return 0
  echo "$out" >"$OUT/wrk-$variant-$record.txt"
  local requests rps p50 p99 non2xx
  requests=$(echo "$out" | awk '/requests in/ { print $1 }')
  rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
  p50=$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
  p99=$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
  non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
  if [ -n "$non2xx" ] || [ "${requests:-0}" = 0 ]; then
    echo "run $variant $record: unexpected answers (non-2xx: ${non2xx:-0}, requests: ${requests:-0})" >&2
    echo "$out" >&2
    exit 1
  fi
  local cpu_us
  cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$record" "$rps" "$p50" "$p99" "$cpu_us" | tee -a "$OUT/results.tsv"
}

echo "== warm-up"
run plain 2
run layer 2

echo "== $ROUNDS rounds x 2 variants x ${DURATION}s, $CONNECTIONS connections, wrk threads $WRK_THREADS"
printf 'variant\tround\trequests/s\tp50 us\tp99 us\tserver CPU us/request\n' | tee "$OUT/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="plain layer"; else order="layer plain"; fi
  for variant in $order; do
    run "$variant" "$DURATION" "$round"
  done
done

echo
echo "== summary ($ROUNDS rounds; min / median / max)"
summarize() { # summarize COLUMN NAME: min/median/max per variant, and the ratio of medians
  local col=$1 name=$2
  local plain layer
  plain=$(awk -F'\t' -v c="$col" 'NR > 1 && $1 == "plain" { print $c }' "$OUT/results.tsv" | sort -g)
  layer=$(awk -F'\t' -v c="$col" 'NR > 1 && $1 == "layer" { print $c }' "$OUT/results.tsv" | sort -g)
  stats() { awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s / %s / %s\t%s", v[1], m, v[NR], m }'; }
  local p l
  p=$(echo "$plain" | stats)
  l=$(echo "$layer" | stats)
  awk -v name="$name" -v p="$p" -v l="$l" 'BEGIN {
    split(p, a, "\t"); split(l, b, "\t")
    printf "| %s | %s | %s | %.3f |\n", name, a[1], b[1], b[2] / a[2]
  }'
}
{
  echo "| metric | without layer | with layer | ratio of medians |"
  echo "|---|---:|---:|---:|"
  summarize 3 "requests/s"
  summarize 4 "p50 latency (µs)"
  summarize 5 "p99 latency (µs)"
  summarize 6 "server CPU per request (µs)"
} | tee "$OUT/summary.md"
echo
echo "raw results: $OUT"
