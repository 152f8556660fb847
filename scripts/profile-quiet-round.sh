#!/usr/bin/env bash
# Profiles the hub during the phones bench's quiet round alone (an alert no phone answers: the
# fan-out's own CPU, as `hub_cpu_us_per_recipient` counts it): runs the bench, attaches
# `perf record` to the bench's process (the hub; the phones run in a child process) when a
# quiet round begins, and stops it when it ends: the file holds the last quiet round's profile.
#
#   scripts/profile-quiet-round.sh hub-mqtt 10000 /tmp/quiet.data
#   perf report -i /tmp/quiet.data --no-children --sort dso,sym
#
# A fourth argument names another round the bench marks the same way: `reconnect` (hub-mqtt)
# profiles the phones' coming back instead. A fifth names a perf event to record in place of
# the CPU samples: `sched:sched_switch` records each time a thread of the hub sleeps or is
# preempted, with where (`perf report -i … --sort comm -n` counts them per kind of thread).
set -euo pipefail
cd "$(dirname "$0")/.."
row=${1:-hub-mqtt} n=${2:-10000} out=${3:-/tmp/quiet.data} round=${4:-quiet} event=${5:-}
what=(-F 1999)
if [ -n "$event" ]; then what=(-e "$event"); fi
bench=$(cargo bench -p scaan-tests --bench phones --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "phones" and m.get("executable"):
        print(m["executable"])')
pid_file=$(mktemp)
trap 'rm -f "$pid_file"' EXIT
SCAAN_BENCH_PHONES_ROWS=$row SCAAN_BENCH_PHONES_SIZES=$n "$bench" --bench 2> >(
  perf_pid=""
  while IFS= read -r line; do
    echo "$line" >&2
    case "$line" in
      "$round round: begins")
        perf record "${what[@]}" -g -o "$out" -p "$(cat "$pid_file")" 2>/dev/null &
        perf_pid=$!
        ;;
      "$round round: ends")
        if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
        ;;
    esac
  done
) | tail -1 &
# The bench's own process (the hub): the first of the pipeline's jobs to run the binary.
sleep 1
pgrep -o -f "^$bench --bench" > "$pid_file"
wait
