#!/usr/bin/env bash
# `make demo`: a controller for the local 4-node cluster on a fresh state directory, the smoke job and
# the demo-3d training job submitted through the CLI with their events streamed, a summary, and a
# clean shutdown that leaves no process behind.
set -uo pipefail
bin=${1:-.build/release}
rm_=$bin/ringmaster
state=$(mktemp -d /tmp/ringmaster-demo-state.XXXXXX)
export RINGMASTER_STATE_DIR=$state
log=$state/controller.log

step() { printf '\n==> %s\n' "$*"; }

step "ringmaster controller --cluster Manifests/clusters/local.yaml (state in $state, log in $log)"
"$rm_" controller --cluster Manifests/clusters/local.yaml --listen 127.0.0.1:0 >"$log" 2>&1 &
controller=$!
stop() {
  kill -TERM "$controller" 2>/dev/null && wait "$controller"
}
trap stop EXIT
for _ in $(seq 1 300); do
  [ -s "$state/controller.json" ] && "$rm_" nodes >/dev/null 2>&1 && break
  kill -0 "$controller" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
for _ in $(seq 1 300); do
  [ "$("$rm_" nodes --json | grep -c '"state" : "ready"')" = 4 ] && break
  sleep 0.1
done
"$rm_" nodes
agents=$(pgrep -P "$controller" | tr '\n' ' ')

step "ringmaster submit Manifests/jobs/smoke.yaml --wait   (all-reduce over world, tensor, data and pipeline groups)"
"$rm_" submit Manifests/jobs/smoke.yaml --wait || exit 1
"$rm_" logs smoke-1 --rank 0

step "ringmaster submit Manifests/jobs/demo-3d.yaml; ringmaster logs -f & ringmaster events -f   (reference trainer, 2 × 2 × 2)"
rm -rf /tmp/ringmaster-demo
job=$("$rm_" submit Manifests/jobs/demo-3d.yaml | awk '{print $2}')
[ -n "$job" ] || exit 1
# Logs follow the attempt (they end with it); events follow the job until it ends.
"$rm_" logs "$job" -f --tail 0 | sed -u 's/^/    log /' &
logs=$!
"$rm_" events -f --job "$job" | grep --line-buffered -v -e ' rank.started ' -e ' rank.exited '
wait "$logs"

step "summary: ringmaster jobs, ringmaster status $job"
"$rm_" jobs
echo
"$rm_" status "$job"

step "stopping the controller (SIGTERM): API, runner, then agents"
trap - EXIT
stop
left=""
for pid in $agents; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
if [ -n "$left" ]; then echo "processes left behind:$left"; exit 1; fi
echo "controller and its ${agents:+$(echo $agents | wc -w) }agents stopped; no process left behind"
echo "state directory: $state (SQLite store state.db, rank logs under logs/)"
