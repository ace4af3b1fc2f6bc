#!/usr/bin/env bash
# `make demo`: a controller for the local 4-node cluster on a fresh state directory; the smoke job; the
# demo-3d training job once without failures (the reference) and once with a node killed mid-run, which
# the fault manager detects and recovers from the newest checkpoint; a summary; a clean shutdown that
# leaves no process behind. The console's one-time sign-in URL is printed once the nodes are up;
# DEMO_HOLD=60 keeps the controller up for 60 s at the end (with a fresh URL) to look at it.
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
stop() { kill -TERM "$controller" 2>/dev/null && wait "$controller"; }
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
echo
echo "console: $("$rm_" console)   (one-time sign-in URL; \`ringmaster console\` prints a new one)"

step "ringmaster submit Manifests/jobs/smoke.yaml --wait   (all-reduce over world, tensor, data and pipeline groups)"
"$rm_" submit Manifests/jobs/smoke.yaml --wait | grep -v -e ' rank.started ' -e ' rank.exited ' || exit 1
"$rm_" logs smoke-1 --rank 0

quiet() { grep --line-buffered -v -e ' rank.started ' -e ' rank.exited ' -e ' checkpoint.committed ' -e ' attempt.stepping '; }

# inject_after JOB STEP FILTER CHAOS_ARGS…: streams JOB's events through FILTER, runs `ringmaster chaos
# CHAOS_ARGS…` once checkpoint STEP is committed, and returns when the job has ended.
inject_after() {
  local job=$1 at=$2 filter=$3
  shift 3
  "$rm_" events -f --job "$job" | $filter &
  local events=$!
  for _ in $(seq 1 1200); do
    "$rm_" events --job "$job" | grep -q "checkpoint step $at of" && break
    sleep 0.1
  done
  "$rm_" chaos "$@" >/dev/null
  wait "$events"
}
# kill_node_after JOB NODE STEP FILTER: inject_after with `chaos kill-node JOB --node NODE`.
kill_node_after() { inject_after "$1" "$3" "$4" kill-node "$1" --node "$2"; }
streamed() { grep --line-buffered -v -e ' rank.started ' -e ' rank.exited '; }

step "the reference: Manifests/jobs/demo-3d.yaml without failures (reference trainer, data 2 × pipeline 2 × tensor 2)"
rm -rf /tmp/ringmaster-demo
reference=$("$rm_" submit Manifests/jobs/demo-3d.yaml | awk '{print $2}')
[ -n "$reference" ] || exit 1
"$rm_" events -f --job "$reference" | quiet
"$rm_" logs "$reference" --tail 3 --rank 4

step "the same job with a node killed mid-run: ringmaster chaos kill-node after checkpoint 100"
job=$("$rm_" submit Manifests/jobs/demo-3d.yaml | awk '{print $2}')
[ -n "$job" ] || exit 1
kill_node_after "$job" local-2 100 streamed

step "summary"
"$rm_" jobs
echo
"$rm_" status "$job"
echo
python3 - "$rm_" "$reference" "$job" <<'PY'
import json, subprocess, sys
rm, reference, job = sys.argv[1:4]
def cli(*args): return subprocess.run([rm, *args], capture_output=True, text=True).stdout
def hashes(j): return sorted(l for l in cli("logs", j, "--tail", "10000").splitlines() if "parameter-hash" in l)
events = json.loads(cli("events", "--job", job, "--json"))
detail = json.loads(cli("status", job, "--json"))
payload = lambda e: json.loads(e.get("payload") or "{}")
detected = [e for e in events if e["kind"] == "failure.detected" and "refines" not in payload(e)]
recovered = [payload(e) for e in events if e["kind"] == "recovery.complete"]
loss = [l for l in cli("logs", job, "--tail", "10000").splitlines() if "step 200 loss" in l]
same = hashes(job) == hashes(reference) and len(hashes(job)) == 8
print(f"steps              {detail['job']['step']} in {len(detail['attempts'])} attempts ({detail['job']['restarts']} restart)")
for e in detected:
    p = payload(e)
    print(f"failure            {p.get('kind')}: detected {float(p.get('detectionSeconds', 'nan')):.3f} s after the injection")
for p in recovered:
    print(f"recovery           {p['recoverySeconds']:.2f} s from detection to the first step (teardown {p['teardownSeconds']:.2f}, "
          f"backoff {p['backoffSeconds']:.2f}, relaunch {p['relaunchSeconds']:.2f}, rendezvous + restore + first step "
          f"{p['rendezvousRestoreFirstStepSeconds']:.2f}); resumed at step {int(p['resumeStep'])}, {int(p['lostSteps'])} steps lost")
print(f"goodput            {detail['job'].get('goodput', 0) * 100:.1f}% of the wall time was training that was kept")
print(f"final loss         {loss[-1].split('loss ')[-1] if loss else '?'}")
print(f"parameter hashes   {'identical to the failure-free reference on all 8 ranks' if same else 'DIFFERENT from the reference'}")
sys.exit(0 if same else 1)
PY
summary=$?

# The PyTorch job: the whole loop for a torch DDP script (ringmaster Python package, ring hook, resumable
# sampler, async step checkpoints), once without failures, then with a node killed cold and warm, and a rank
# killed with in-process rejoin.
if scripts/torch-venv.sh /var/tmp/ringmaster-torch-venv >/dev/null 2>&1; then
  /var/tmp/ringmaster-torch-venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps ./python
  step "PyTorch: Manifests/jobs/torch-resilient.yaml without failures (DDP over 4 ranks on 2 nodes, gradients over the ring)"
  torch_ref=$("$rm_" submit Manifests/jobs/torch-resilient.yaml | awk '{print $2}')
  [ -n "$torch_ref" ] || exit 1
  "$rm_" events -f --job "$torch_ref" | quiet
  step "PyTorch: the same job with a node killed after checkpoint 100"
  torch_job=$("$rm_" submit Manifests/jobs/torch-resilient.yaml | awk '{print $2}')
  [ -n "$torch_job" ] || exit 1
  kill_node_after "$torch_job" local-1 100 streamed
  python3 scripts/torch_demo_summary.py "$rm_" "$torch_ref" "$torch_job"
  [ $? = 0 ] || summary=1
  step "PyTorch warm: Manifests/jobs/torch-warm.yaml (the same job, warm interpreters) with a node killed after checkpoint 150"
  warm_job=$("$rm_" submit Manifests/jobs/torch-warm.yaml | awk '{print $2}')
  [ -n "$warm_job" ] || exit 1
  kill_node_after "$warm_job" local-0 150 streamed
  python3 scripts/torch_demo_summary.py "$rm_" "$torch_ref" "$warm_job" --warm
  [ $? = 0 ] || summary=1
  step "PyTorch rejoin: Manifests/jobs/torch-rejoin.yaml (warm, survivors rejoin in process) with rank 1 killed after checkpoint 100"
  rejoin_job=$("$rm_" submit Manifests/jobs/torch-rejoin.yaml | awk '{print $2}')
  [ -n "$rejoin_job" ] || exit 1
  inject_after "$rejoin_job" 100 streamed kill-rank "$rejoin_job" --rank 1
  python3 scripts/torch_demo_summary.py "$rm_" "$torch_ref" "$rejoin_job" --warm --rejoin
  [ $? = 0 ] || summary=1
else
  step "PyTorch: skipped (no CPU PyTorch wheel in /opt/wheels for scripts/torch-venv.sh)"
fi

if [ "${DEMO_HOLD:-0}" -gt 0 ] 2>/dev/null; then
  step "holding the controller for DEMO_HOLD=$DEMO_HOLD s: open the console"
  echo "console: $("$rm_" console)"
  sleep "$DEMO_HOLD"
fi

step "stopping the controller (SIGTERM): API, runner, then agents"
trap - EXIT
stop
left=""
for pid in $agents; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
if [ -n "$left" ]; then echo "processes left behind:$left"; exit 1; fi
echo "controller and its agents stopped; no process left behind"
echo "state directory: $state (SQLite store state.db, rank logs under logs/)"
exit $summary
