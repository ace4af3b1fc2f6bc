"""A `ringmaster controller` process on a fresh state directory, for the API's and the console's checks
(scripts/schemathesis_run.py, scripts/console_browser_test.py): start, wait for its nodes, the CLI
against it, sign in to the console, stop."""
import http.cookiejar
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


class Controller:
    def __init__(self, build, cluster="Manifests/clusters/local.yaml", nodes=4):
        self.build = os.path.abspath(build)
        self.ringmaster = os.path.join(self.build, "ringmaster")
        self.dir = tempfile.mkdtemp(prefix="ringmaster-console-")
        self.state = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "controller.log")
        self.env = dict(os.environ, RINGMASTER_STATE_DIR=self.state)
        self.env.pop("RINGMASTER_TOKEN", None)
        self.env.pop("RINGMASTER_CONTROLLER", None)
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([self.ringmaster, "controller", "--cluster", cluster, "--listen", "127.0.0.1:0"],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        info = os.path.join(self.state, "controller.json")
        deadline = time.time() + 60
        while not os.path.exists(info) or os.path.getsize(info) == 0:
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("the controller did not start:\n" + open(self.log_path).read())
            time.sleep(0.1)
        with open(info) as f:
            self.url = json.load(f)["url"]
        with open(os.path.join(self.state, "api-token")) as f:
            self.token = f.read().strip()
        self.wait(lambda: sum(n["state"] == "ready" for n in self.get("/v1/nodes")) == nodes, 60, f"{nodes} ready nodes")

    def request(self, method, path, body=None, headers=None, token=True):
        data = None if body is None else json.dumps(body).encode()
        h = {"Content-Type": "application/json"} if data is not None else {}
        if token:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)

    def cli(self, *args, check=True):
        r = subprocess.run([self.ringmaster, *args], capture_output=True, text=True, env=self.env, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"ringmaster {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r.stdout

    def submit(self, manifest):
        return self.cli("submit", manifest).split()[1]

    def events(self, job=None):
        return self.get("/v1/events?limit=10000" + (f"&job={job}" if job else ""))

    def wait(self, predicate, seconds, what):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if predicate():
                    return
            except (RuntimeError, OSError, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"waited {seconds} s for {what}; controller log: {self.log_path}")

    def login_url(self):
        return self.cli("console").strip()

    def session_cookie(self):
        """Signs in as a browser would (the one-time URL), returning the session cookie's name and value."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(self.login_url(), timeout=30) as r:
            r.read()
        cookies = [c for c in jar if c.name.startswith("ringmaster_session_")]
        if not cookies:
            raise RuntimeError("signing in set no session cookie")
        return cookies[0].name, cookies[0].value

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def remove(self):
        """Removes the state directory, checkpoints and log (after a run that passed)."""
        shutil.rmtree(self.dir, ignore_errors=True)
