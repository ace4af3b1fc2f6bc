#!/usr/bin/env bash
# Runs the Swift test suites one at a time (make test calls it), bounded:
#   scripts/swift-tests.sh SECONDS [swift test arguments…]
# Output is line-buffered, so a run cut off by the bound shows the test it was in (block-buffered, the
# last few kilobytes were lost with the killed process). When the bound is reached, the test process's
# thread backtraces, the process tree and the tests that started but did not finish are printed, in that
# order (the end of a CI log is what is shown), before the run is killed.
set -uo pipefail
cd "$(dirname "$0")/.."
limit=${1:?usage: scripts/swift-tests.sh SECONDS [swift test arguments…]}
shift
log=$(mktemp /tmp/ringmaster-swift-tests.XXXXXX)
trap 'rm -f "$log"' EXIT

# In a session of its own, so that what a killed test leaves behind (its controllers and agents) is
# killed with it and does not hold the output open.
setsid stdbuf -oL -eL swift test --skip-build --no-parallel "$@" > >(tee "$log") 2>&1 &
runner=$!
deadline=$((SECONDS + limit))
while kill -0 "$runner" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
  sleep 5 & wait $!
done
if ! kill -0 "$runner" 2>/dev/null; then
  wait "$runner"
  rc=$?
  # What the tests left running in their session (a rank a test did not stop, an orphaned agent) is named
  # and killed: it would hold the output open and outlive the run.
  left=$(ps -e -o sid=,pid=,args= | awk -v s="$runner" '$1 == s { $1 = ""; print }')
  if [ -n "$left" ]; then
    echo "==> processes the tests left running (killed now):"
    echo "$left"
    pkill -KILL -s "$runner" 2>/dev/null
  fi
  exit $rc
fi

echo
echo "==> the Swift tests ran past ${limit} s"
for pid in $(pgrep -f 'ringmasterPackageTests.xctest'); do
  echo "==> thread backtraces of the test process $pid"
  timeout 60 gdb -p "$pid" -batch -ex "thread apply all bt 10" 2>/dev/null | grep -E '^(Thread|#)' | head -n 300
done
echo "==> the process tree"
ps -e --forest -o pid,etime,pcpu,args | grep -v -E 'ps -e --forest|\[kworker|\[' | cut -c1-200 | tail -n 40
echo "==> tests that started and did not finish"
grep -E '^◇ Test .* started\.$' "$log" | grep -v '^◇ Test run started' | sed -E 's/^◇ Test (.*) started\.$/\1/' | sort > "$log.started"
grep -E '^✘ Test .* (failed|passed)|^✔ Test .* passed' "$log" | sed -E 's/^[✔✘] Test (.*) (passed|failed).*/\1/' | sort -u > "$log.ended"
comm -23 "$log.started" "$log.ended"
rm -f "$log.started" "$log.ended"
kill -TERM -- "-$runner" 2>/dev/null
sleep 10 & wait $!
kill -KILL -- "-$runner" 2>/dev/null
exit 124
