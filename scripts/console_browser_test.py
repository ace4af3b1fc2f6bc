"""The console in a real browser (make test, through scripts/console-test.sh): headless Chromium driven by
Selenium against a controller running the demo job (data 2 × pipeline 2 × tensor 2 on the local 4-node
cluster) with a node killed after a checkpoint. Checks the sign-in (one-time URL → HttpOnly, SameSite=Strict
cookie, nothing secret left in the URL, the URL good once), that cross-site and cookie-only requests
cannot act, and that without reloading the page: the cluster page shows the killed node's failure, the
job page's timeline shows the one failure with its phases and the same detection and recovery times as
the events, and the loss curve reaches the job's last step. Screenshots go to SCREENSHOT_DIR.
    python scripts/console_browser_test.py BUILD_DIR SCREENSHOT_DIR [PRESET [STEPS]]"""
import json
import os
import signal
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringmaster_controller import Controller  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

build, shots = sys.argv[1], os.path.abspath(sys.argv[2])
# The demo's layout, checkpoints and failure settings; the `micro` model by default (milliseconds per step
# in a debug build: the demo's `tiny` takes seconds per step there), `tiny` for a release build.
preset = sys.argv[3] if len(sys.argv) > 3 else "micro"
steps = int(sys.argv[4]) if len(sys.argv) > 4 else (600 if preset == "micro" else 200)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a bound's SIGTERM still stops the controller
os.makedirs(shots, exist_ok=True)
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def until(predicate, seconds, what):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # a page mid-render: try again
            last = e
        time.sleep(0.25)
    raise TimeoutError(f"waited {seconds} s for {what} (last: {last!r})")


def fresh(body, tries=20):
    """Runs body, again when the page redrew under it (it redraws on every event and every 3 s, so an
    element found a moment ago may be gone)."""
    for i in range(tries):
        try:
            return body()
        except StaleElementReferenceException:
            if i == tries - 1:
                raise
            time.sleep(0.1)


def click(css):
    fresh(lambda: driver.find_element(By.CSS_SELECTOR, css).click())


# One consistent reading of the job view, taken in the page (no element can go stale halfway).
JOB_VIEW = """
const q = (s) => document.querySelector(s);
const g = [...document.querySelectorAll('#timeline g.failure')];
return {
  lastStep: q('#loss svg') && q('#loss svg').getAttribute('data-last-step'),
  points: q('#loss svg') ? Number(q('#loss svg').getAttribute('data-points')) : 0,
  state: q('h1 .state') ? q('h1 .state').textContent : '',
  failures: g.map((f) => ({kind: f.dataset.kind, node: f.dataset.node, outcome: f.dataset.outcome,
    detection: f.dataset.detectionSeconds, recovery: f.dataset.recoverySeconds, tip: f.dataset.tip,
    phases: Object.fromEntries([...f.querySelectorAll('rect.phase')].map((r) => [r.dataset.phase, Number(r.dataset.seconds)]))})),
  row: q('#job-failures tr.failure-row') ? q('#job-failures tr.failure-row').textContent : '',
  events: document.querySelectorAll('#events [data-event]').length,
  logs: q('#logs') ? q('#logs').textContent : '',
};
"""


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1500",
              "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


controller = Controller(build)
driver = None
try:
    driver = browser()
    # --- sign-in ---
    driver.get(controller.url + "/")
    check("ringmaster console" in driver.page_source and "/console/api" not in driver.page_source,
          "without a session / is the sign-in page")
    login = controller.login_url()
    check(controller.token not in login and "code=" in login, "the one-time URL holds a code, not the API token")
    driver.get(login)
    until(lambda: driver.find_element(By.ID, "page").get_attribute("data-view") == "cluster", 30, "the cluster view")
    check(driver.current_url.rstrip("/").split("#")[0] == controller.url, f"after sign-in the URL is the console's own ({driver.current_url})")
    driver.get_log("browser")  # the sign-in page's own 401 is expected: only what follows counts
    cookies = driver.get_cookies()
    session = [c for c in cookies if c["name"].startswith("ringmaster_session_")]
    check(len(session) == 1 and session[0]["httpOnly"] and session[0].get("sameSite") == "Strict",
          f"the session cookie is HttpOnly and SameSite=Strict ({[(c['name'], c.get('httpOnly'), c.get('sameSite')) for c in cookies]})")
    check(driver.execute_script("return document.cookie") == "", "script cannot read the session cookie")
    cookie = f"{session[0]['name']}={session[0]['value']}"
    status, _ = controller.request("GET", login[len(controller.url):], token=False)
    check(status == 401, f"the one-time URL does not work twice ({status})")
    # --- what a cross-site page, or the cookie alone, can do: nothing ---
    status, _ = controller.request("GET", "/v1/jobs", token=False, headers={"Cookie": cookie})
    check(status == 401, f"the bearer API does not take the console cookie ({status})")
    status, _ = controller.request("GET", "/console/api/v1/jobs", token=False, headers={"Cookie": cookie})
    check(status == 200, f"the console's mirror takes it ({status})")
    status, _ = controller.request("POST", "/console/api/v1/nodes/local-0/release", body={}, token=False, headers={"Cookie": cookie})
    check(status == 403, f"an action without the console's header is refused ({status})")
    status, _ = controller.request("POST", "/console/api/v1/nodes/local-0/release", body={}, token=False,
                                   headers={"Cookie": cookie, "X-Ringmaster-Console": "1", "Origin": "http://evil.example"})
    check(status == 403, f"an action from another origin is refused ({status})")
    status, _ = controller.request("POST", "/console/api/v1/nodes/local-0/release", body={}, token=False,
                                   headers={"Cookie": cookie, "X-Ringmaster-Console": "1", "Sec-Fetch-Site": "cross-site"})
    check(status == 403, f"an action the browser marks cross-site is refused ({status})")
    status, _ = controller.request("POST", "/console/api/v1/nodes/local-0/release", body={}, token=False,
                                   headers={"Cookie": cookie, "X-Ringmaster-Console": "1", "Origin": controller.url})
    check(status == 409, f"a same-origin action reaches the handler (local-0 is not quarantined: {status})")
    status, _ = controller.request("GET", "/console/api/v1/jobs", token=False, headers={"Cookie": "ringmaster_session_1=forged"})
    check(status == 401, f"a forged session is refused ({status})")

    # --- the demo job with a node killed after checkpoint 100 ---
    manifest = os.path.join(controller.dir, "demo-3d.yaml")
    demo = open("Manifests/jobs/demo-3d.yaml").read()
    demo = demo.replace("/tmp/ringmaster-demo/checkpoints", os.path.join(controller.dir, "checkpoints"))
    demo = demo.replace('workdir: .', f'workdir: {os.path.abspath("Manifests/jobs")}').replace('"200"', f'"{steps}"')
    if preset != "tiny":
        demo = demo.replace("--preset, tiny", f"--preset, {preset}").replace('--batch, "16"', '--batch, "8"')
    with open(manifest, "w") as f:
        f.write(demo)
    job = controller.submit(manifest)
    click('nav a[data-route="jobs"]')
    until(lambda: driver.find_element(By.CSS_SELECTOR, f'#jobs tr[data-job="{job}"]'), 30, "the job in the jobs view")
    click(f'#jobs tr[data-job="{job}"] a')
    until(lambda: driver.find_element(By.ID, "page").get_attribute("data-view") == "job", 30, "the job view")
    load_id = driver.execute_script("return window.ringmasterConsole.loadId")
    renders = driver.execute_script("return window.ringmasterConsole.renders")
    kill_at = min(100, steps // 2 // 25 * 25)
    controller.wait(lambda: any(f"checkpoint step {kill_at} of" in e["message"] for e in controller.events(job)), 900,
                    f"checkpoint {kill_at}")
    driver.save_screenshot(os.path.join(shots, "console-job-running.png"))
    controller.cli("chaos", "kill-node", job, "--node", "local-2")
    controller.wait(lambda: controller.get(f"/v1/jobs/{job}")["job"]["state"] in ("succeeded", "failed"), 900, f"{job} to end")
    detail = controller.get(f"/v1/jobs/{job}")
    check(detail["job"]["state"] == "succeeded", f"the job recovered and succeeded ({detail['job']['state']}, {detail['job'].get('reason')})")
    events = controller.events(job)
    payload = lambda e: json.loads(e.get("payload") or "{}")
    detected = [payload(e) for e in events if e["kind"] == "failure.detected" and "refines" not in payload(e)]
    complete = [payload(e) for e in events if e["kind"] == "recovery.complete"]
    check(len(detected) == 1 and len(complete) == 1, f"the events hold one failure and one recovery ({len(detected)}, {len(complete)})")

    # --- the job page, updated live: one failure, its phases, the events' times, the loss to the last step ---
    final_step = detail["job"]["step"]

    def settled():
        v = driver.execute_script(JOB_VIEW)
        done = v["lastStep"] == str(final_step) and "succeeded" in v["state"]
        return v if done and any(f["outcome"] == "recovered" for f in v["failures"]) else None
    view = until(settled, 60, f"the job view to show the recovered failure, the loss to step {final_step} and the job's end")
    check(len(view["failures"]) == 1, f"the timeline shows one failure ({len(view['failures'])})")
    f = view["failures"][0]
    phases = f["phases"]
    check(set(phases) == {"detection", "teardown", "decision", "backoff", "relaunch", "first-step"}, f"with its phases {sorted(phases)}")
    if detected and complete:
        d, c = detected[0], complete[0]
        shown_detection, shown_recovery = float(f["detection"]), float(f["recovery"])
        check(abs(shown_detection - float(d["detectionSeconds"])) < 1e-6,
              f"detection {shown_detection:.3f} s, as failure.detected says ({d['detectionSeconds']})")
        check(abs(shown_recovery - c["recoverySeconds"]) < 1e-6,
              f"recovery {shown_recovery:.3f} s, as recovery.complete says ({c['recoverySeconds']:.3f})")
        for name, key in (("teardown", "teardownSeconds"), ("backoff", "backoffSeconds"), ("relaunch", "relaunchSeconds"),
                          ("first-step", "rendezvousRestoreFirstStepSeconds")):
            check(abs(phases.get(name, -1) - c[key]) < 1e-3, f"phase {name} {phases.get(name)} s = {key} {c[key]:.3f}")
        check(f["node"] == "local-2", f"the failure is local-2's ({f['kind']} on {f['node']})")
        check(f"{shown_recovery:.2f}" in view["row"], f"the failure table shows the recovery time ({view['row']})")
    check("local-2" in f["tip"] and "lost steps" in f["tip"], "hovering the failure shows its kind, node and lost steps")

    def hover():
        rect = driver.find_element(By.CSS_SELECTOR, '#timeline g.failure rect[data-phase="teardown"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", rect)
        webdriver.ActionChains(driver).move_to_element(rect).perform()
        tip = driver.find_element(By.ID, "tip")
        return tip.is_displayed() and "local-2" in tip.text
    check(until(lambda: fresh(hover), 15, "the tooltip"), "the tooltip appears on hover")
    check(view["points"] > 10, f"the loss curve has points ({view['points']}) to the last step {final_step}")
    check(view["events"] > 10, f"the live event list has the job's events ({view['events']})")
    check(view["logs"].strip() != "", "the rank logs' tail is shown")
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(os.path.join(shots, "console-job.png"))
    check(driver.execute_script("return window.ringmasterConsole.loadId") == load_id, "the page was never reloaded")
    check(driver.execute_script("return window.ringmasterConsole.renders") > renders, "the page updated itself")
    check(driver.execute_script("return window.ringmasterConsole.streamed") > 0, "events arrived over the stream")

    # --- the cluster page: the killed node's failure ---
    click('nav a[data-route="cluster"]')
    until(lambda: driver.find_element(By.ID, "page").get_attribute("data-view") == "cluster", 30, "the cluster view")
    cluster = until(lambda: driver.execute_script("""
        const rows = [...document.querySelectorAll('#nodes tbody tr')];
        if (!rows.length) return null;
        return {counts: Object.fromEntries(rows.map((r) => [r.dataset.node, r.querySelector('.fail-day').textContent])),
                marks: [...document.querySelectorAll('svg.strip rect.fail-mark')].map((m) => m.dataset.node)};
        """), 30, "the nodes table")
    check(cluster["counts"].get("local-2") == "1", f"local-2 shows one failure in the last day ({cluster['counts']})")
    check(cluster["marks"] == ["local-2"], f"the strip marks local-2's failure, and only it ({cluster['marks']})")
    check(all(v == "0" for k, v in cluster["counts"].items() if k != "local-2"), "and no other node has a failure")
    driver.save_screenshot(os.path.join(shots, "console-cluster.png"))

    # --- the failures page ---
    click('nav a[data-route="failures"]')
    until(lambda: driver.find_element(By.ID, "page").get_attribute("data-view") == "failures", 30, "the failures view")
    listed = until(lambda: driver.execute_script("""
        const n = document.querySelector('#by-node tr[data-node="local-2"]');
        return n ? {node: n.textContent, rows: document.querySelectorAll('#failures tbody tr').length,
                    planner: document.querySelector('#mtbf-planner').textContent} : null;
        """), 30, "local-2 in the per-node counts")
    check(listed["rows"] == 1, f"the failures page lists the failure ({listed['rows']})")
    check(listed["planner"].strip() not in ("", "–"), f"with the planner's MTBF beside the observed one ({listed['planner']})")
    driver.save_screenshot(os.path.join(shots, "console-failures.png"))
    check(driver.execute_script("return window.ringmasterConsole.loadId") == load_id, "still the same page, never reloaded")
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    check(not errors, f"no errors in the browser's console ({errors[:3]})")
except Exception as e:
    failures.append(f"{type(e).__name__}: {e}")
    print(f"FAIL  {type(e).__name__}: {e}", flush=True)
    if driver:
        driver.save_screenshot(os.path.join(shots, "console-failure.png"))
finally:
    if driver:
        driver.quit()
    rc = controller.stop()
    check(rc == 0, f"the controller stopped cleanly ({rc})")
print(f"screenshots in {shots}")
if failures:
    print(f"{len(failures)} check(s) failed; controller log: {controller.log_path}")
    sys.exit(1)
controller.remove()
print("the console passed every check")
