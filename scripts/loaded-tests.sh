#!/usr/bin/env bash
# The Swift suites run RUNS times in a row while a bounded CPU load keeps every core busy — the check that
# no test depends on an idle machine (make test-loaded):
#   scripts/loaded-tests.sh RUNS [swift test arguments…]
# The load is one busy loop per core, at the tests' own priority, each ended by `timeout` (the runs' bound
# plus a minute) and killed when the script ends however it ends. Each run is bounded like make test's
# (scripts/swift-tests.sh, 40 min) and logged to $LOADED_TESTS_LOGS/run-N.log (default
# /tmp/ringmaster-loaded-tests); a line per run says whether it passed, how long it took and the load
# average meanwhile. Every run is made, and the script fails when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:?usage: scripts/loaded-tests.sh RUNS [swift test arguments…]}
shift
bound=2400
logs=${LOADED_TESTS_LOGS:-/tmp/ringmaster-loaded-tests}
mkdir -p "$logs"
export RINGMASTER_AGENT=${RINGMASTER_AGENT:-$PWD/.build/release/ringmaster-agent}

cores=$(nproc)
loaders=()
stop_load() { [ ${#loaders[@]} -gt 0 ] && kill "${loaders[@]}" 2>/dev/null; wait "${loaders[@]}" 2>/dev/null; }
trap stop_load EXIT
for _ in $(seq "$cores"); do
  timeout $((runs * bound + 60)) bash -c 'while :; do :; done' &
  loaders+=($!)
done
echo "==> $runs runs of the Swift suites, $cores busy loops beside them (pids ${loaders[*]}); logs in $logs"

failed=0
for run in $(seq "$runs"); do
  start=$SECONDS
  scripts/swift-tests.sh "$bound" "$@" > "$logs/run-$run.log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  summary=$(grep -E '^[✔✘] Test run with' "$logs/run-$run.log" | tail -n 1)
  if [ "$rc" = 0 ]; then
    echo "run $run: passed in ${took} s (load $load): ${summary:-no summary}"
  else
    failed=$((failed + 1))
    echo "run $run: FAILED (exit $rc) in ${took} s (load $load): ${summary:-no summary}"
    grep -E '^✘ ' "$logs/run-$run.log" | head -n 20
  fi
done
echo "==> $((runs - failed)) of $runs runs passed"
[ "$failed" = 0 ]
