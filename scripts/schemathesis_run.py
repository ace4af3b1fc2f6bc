"""Checks the OpenAPI document against a live controller (make test, through scripts/schemathesis-test.sh):
schemathesis generates requests for every operation in /v1/openapi.json, valid and invalid, and fails on
any 5xx, any status the document does not list, and any response that breaks its schema.
    python scripts/schemathesis_run.py BUILD_DIR [MAX_EXAMPLES]"""
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringmaster_controller import Controller  # noqa: E402

signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a bound's SIGTERM still stops the controller
build = sys.argv[1]
examples = sys.argv[2] if len(sys.argv) > 2 else "60"
controller = Controller(build)
rc = 1
try:
    # Something to read: a finished job (its id, its attempts, its logs) and a pending one.
    manifest = os.path.join(controller.dir, "quick.yaml")
    with open(manifest, "w") as f:
        f.write("name: quick\ncommand: [python3, -c, \"print('hello')\"]\nparallelism: {data: 2}\n")
    job = controller.submit(manifest)
    controller.wait(lambda: controller.get(f"/v1/jobs/{job}")["job"]["state"] == "succeeded", 60, f"{job} to succeed")
    name, value = controller.session_cookie()
    st = os.path.join(os.path.dirname(sys.executable), "st")
    work = tempfile.mkdtemp(prefix="schemathesis-")
    # Credentials through the document's own security schemes, so schemathesis knows which operation takes
    # which (and checks that each refuses a request without it).
    config = os.path.join(work, "schemathesis.toml")
    with open(config, "w") as f:
        f.write('[auth.openapi.bearer]\nbearer = "${RINGMASTER_TEST_TOKEN}"\n'
                '[auth.openapi.consoleSession]\napi_key = "${RINGMASTER_TEST_SESSION}"\n')
    env = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks", PYTHONPATH=os.path.dirname(os.path.abspath(__file__)),
               RINGMASTER_TEST_TOKEN=controller.token, RINGMASTER_TEST_SESSION=value)
    # The document as this controller serves it (its URL and cookie name filled in; it needs the token).
    document = os.path.join(work, "openapi.json")
    status, body = controller.request("GET", "/v1/openapi.json")
    assert status == 200, f"GET /v1/openapi.json: {status}"
    with open(document, "wb") as f:
        f.write(body)
    common = [st, "--config-file", config, "run", document, "--url", controller.url,
              "--max-examples", examples, "--seed", "1", "--request-timeout", "20"]
    # Reads (and the console's page, login and assets): every check schemathesis has for a response.
    reads = common + ["--workers", "2", "--exclude-method", "POST", "--checks",
                      "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
                      "response_schema_conformance,negative_data_rejection,ignored_auth,missing_required_header,unsupported_method"]
    print("==> " + " ".join(reads), flush=True)
    rc = subprocess.run(reads, env=env, cwd=work).returncode  # its cache (.schemathesis) stays out of the tree
    # The POST routes, separately and last (one signs the console session out): generated bodies against the
    # real handlers; random job and node ids are 404, random manifests 400.
    posts = common + ["--workers", "1", "--include-method", "POST", "--checks",
                      "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
                      "missing_required_header"]
    print("==> " + " ".join(posts), flush=True)
    rc = subprocess.run(posts, env=env, cwd=work).returncode or rc
finally:
    stopped = controller.stop()
    if stopped != 0:
        print(f"the controller exited {stopped}; its log: {controller.log_path}")
        rc = rc or 1
    log = open(controller.log_path).read()
    for bad in ("Fatal error", "fatalError", "Segmentation fault"):
        if bad in log:
            print(f"the controller's log has {bad!r}: {controller.log_path}")
            rc = 1
if rc == 0:
    controller.remove()
sys.exit(rc)
