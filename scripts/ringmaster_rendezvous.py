"""A minimal rendezvous server speaking Swift's wire protocol (``RendezvousWire.swift``), so the C ABI
can be tested from Python without a controller: ranks send
``RMJOIN 1 attempt=<n> rank=<r> world=<w> host=<h|-> port=<p> timeoutms=<t> token=<token>`` and all get
``OK <w>`` followed by ``<rank> <host> <port>`` lines once every rank has joined."""

import socket
import threading


class Rendezvous:
    def __init__(self, world_size, token="test-token", attempt=1):
        self.world_size, self.token, self.attempt = world_size, token, attempt
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = "%s:%d" % self.listener.getsockname()
        self.joined = {}
        self.condition = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, (peer, _) = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, peer), daemon=True).start()

    def _serve(self, client, peer):
        with client:
            line = client.makefile("r").readline().split()
            fields = dict(p.split("=", 1) for p in line[2:] if "=" in p)
            if line[:2] != ["RMJOIN", "1"] or fields.get("token") != self.token:
                client.sendall(b"REFUSED bad token or request\n")
                return
            if int(fields["attempt"]) != self.attempt or int(fields["world"]) != self.world_size:
                client.sendall(b"REFUSED wrong attempt or world size\n")
                return
            host = peer if fields["host"] == "-" else fields["host"]
            timeout = int(fields["timeoutms"]) / 1000
            with self.condition:
                self.joined[int(fields["rank"])] = (host, fields["port"])
                self.condition.notify_all()
                done = self.condition.wait_for(lambda: len(self.joined) == self.world_size, timeout)
                table = dict(self.joined)
            if not done:
                missing = ",".join(str(r) for r in range(self.world_size) if r not in table)
                client.sendall(f"MISSING {self.attempt} {missing}\n".encode())
                return
            rows = "".join(f"{r} {h} {p}\n" for r, (h, p) in sorted(table.items()))
            client.sendall(f"OK {self.world_size}\n{rows}".encode())

    def environment(self, rank, tp=1, pp=1):
        dp = self.world_size // (tp * pp)
        return {"RANK": str(rank), "WORLD_SIZE": str(self.world_size), "RINGMASTER_RENDEZVOUS": self.address,
                "RINGMASTER_TOKEN": self.token, "RINGMASTER_ATTEMPT": str(self.attempt),
                "RINGMASTER_TP_SIZE": str(tp), "RINGMASTER_PP_SIZE": str(pp), "RINGMASTER_DP_SIZE": str(dp),
                "RINGMASTER_TP_RANK": str(rank % tp), "RINGMASTER_DP_RANK": str((rank // tp) % dp),
                "RINGMASTER_PP_RANK": str(rank // (tp * dp))}

    def close(self):
        self.listener.close()
