#!/usr/bin/env python3
"""A rank written with the standard library only: reads the rank environment, reports progress
and a loss on RINGMASTER_CONTROL (one datagram per line), and exits 0."""
import math
import os
import socket
import sys
import time

rank = int(os.environ["RANK"])
world = int(os.environ["WORLD_SIZE"])
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
start = int(os.environ.get("RINGMASTER_RESUME_STEP") or 0)
control = os.environ.get("RINGMASTER_CONTROL")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if control else None


def report(line):
    if sock:
        sock.sendto(line.encode(), control)


print(f"rank {rank}/{world} on {socket.gethostname()} local {os.environ.get('LOCAL_RANK')} "
      f"tp {os.environ.get('RINGMASTER_TP_RANK')} pp {os.environ.get('RINGMASTER_PP_RANK')} "
      f"dp {os.environ.get('RINGMASTER_DP_RANK')} devices {os.environ.get('RINGMASTER_ACCELERATORS')}", flush=True)
for step in range(start + 1, steps + 1):
    time.sleep(0.05)
    report(f"step {step}")
    report(f"metric loss {2.5 * math.exp(-step / 10):.4f}")
print(f"rank {rank} done after step {steps}", flush=True)
