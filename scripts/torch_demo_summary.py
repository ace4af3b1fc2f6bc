"""`make demo`'s summary of a PyTorch job that recovered: its recoveries, how its restart's ranks started, and
whether its parameters equal the failure-free run's. Exits 1 when they do not.

    torch_demo_summary.py RINGMASTER REFERENCE_JOB JOB [--warm] [--rejoin]
"""
import json
import subprocess
import sys

rm, reference, job = sys.argv[1:4]
flags = set(sys.argv[4:])


def cli(*args):
    return subprocess.run([rm, *args], capture_output=True, text=True).stdout


def hashes(j):
    return sorted(l.split("] ", 1)[-1] for l in cli("logs", j, "--tail", "10000").splitlines() if "parameter-hash" in l)


events = json.loads(cli("events", "--job", job, "--json"))
payload = lambda e: json.loads(e.get("payload") or "{}")
if "--rejoin" in flags:
    for e in events:
        if e["kind"] == "recovery.rejoin" and "asking" not in e["message"]:
            print(f"rejoin             {e['message'].split(': ', 1)[-1]}")
for p in (payload(e) for e in events if e["kind"] == "recovery.complete"):
    print(f"recovery           {p['recoverySeconds']:.2f} s from detection to the first step; resumed at step "
          f"{int(p['resumeStep'])}, {int(p['lostSteps'])} steps lost")
second = cli("logs", job, "--attempt", "2", "--tail", "10000").splitlines()
started = [l for l in second if " attempt 2: steps " in l and "(rejoined in process)" not in l]
if "--rejoin" in flags:
    kept = sum("(rejoined in process)" in l for l in second)
    print(f"survivors          {kept} ranks kept their processes and rejoined attempt 2; {len(started)} started new")
if "--warm" in flags:
    warm = sum("(warm interpreter)" in l for l in started)
    print(f"warm interpreters  {warm} of attempt 2's {len(started)} new ranks started in one")
same = hashes(job) == hashes(reference) and len(hashes(job)) == 4
print(f"parameter hashes   {'identical to the failure-free run on all 4 ranks' if same else 'DIFFERENT from the failure-free run'}")
sys.exit(0 if same else 1)
