"""A real Keystone and Glance on loopback, for the `openstack` test suite.

`start_stack(workdir)` writes the configuration into `workdir` (sqlite, fernet tokens, a
filesystem image store), runs the `keystone-manage` set-up steps, starts Keystone and Glance
under gunicorn from the cached server venv (see `venv.py`) on free loopback ports, registers the
`image` service, its endpoints and a `glance` service user, and waits until both answer. The
`Stack` it returns stops both processes by their ids (`stop()`, also used on a failed start).

    python -m tests.openstack.stack     # start one, print its URLs, stop on Ctrl-C
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.openstack.venv import ensure_venv

REGION = "RegionOne"
DOMAIN = "Default"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-pw-Zk29x"
ADMIN_PROJECT = "admin"
SERVICE_PROJECT = "service"
GLANCE_USER = "glance"
GLANCE_PASSWORD = "glance-pw-Qm71c"
START_TIMEOUT_S = 120.0

# oslo.config in Keystone's WSGI entry point parses sys.argv: hide gunicorn's arguments from it.
_KEYSTONE_WSGI = """\
import sys

sys.argv = sys.argv[:1]

from keystone.wsgi.api import application  # noqa: E402
"""


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM the gunicorn master (its workers follow), SIGKILL after a grace period."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


@dataclass
class Stack:
    """The running servers and what a test needs to talk to them."""

    workdir: Path
    keystone: Server
    glance: Server
    admin_token: str = field(repr=False)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def auth_url(self) -> str:
        return self.keystone.url + "/v3"

    @property
    def keystone_access_log(self) -> Path:
        return self.workdir / "keystone-access.log"

    def token_requests(self) -> int:
        """POST /v3/auth/tokens logged by Keystone so far (Glance's own sign-ins included)."""
        if not self.keystone_access_log.exists():
            return 0
        lines = self.keystone_access_log.read_text().splitlines()
        return sum('"POST /v3/auth/tokens' in line for line in lines)

    def token_requests_since(self, before: int, *, settle_s: float = 1.0) -> int:
        """How many more than `before` once the access log (written just after each answer)
        has stopped growing for `settle_s`."""
        count, stable_since = self.token_requests(), time.monotonic()
        deadline = stable_since + 10 * settle_s
        while time.monotonic() < deadline and time.monotonic() - stable_since < settle_s:
            time.sleep(0.1)
            latest = self.token_requests()
            if latest != count:
                count, stable_since = latest, time.monotonic()
        return count - before

    def password_cloud(self, *, password: str = ADMIN_PASSWORD) -> dict[str, Any]:
        """A clouds.yaml entry for the admin user, scoped to the admin project."""
        return {
            "auth_type": "password",
            "auth": {
                "auth_url": self.auth_url,
                "username": ADMIN_USER,
                "password": password,
                "project_name": ADMIN_PROJECT,
                "user_domain_name": DOMAIN,
                "project_domain_name": DOMAIN,
            },
            "region_name": REGION,
            "interface": "public",
            "identity_api_version": 3,
        }

    def stop(self) -> None:
        for server in (self.glance, self.keystone):
            server.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Mapping[str, str], bytes]:
    """One blocking HTTP request: (status, headers, body), errors included."""
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["X-Auth-Token"] = token
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _call(method: str, url: str, token: str, body: Any = None) -> dict[str, Any]:
    status, _, raw = request(method, url, token=token, body=body)
    if status >= 300:
        raise RuntimeError(f"{method} {url}: HTTP {status}: {raw[:300]!r}")
    return json.loads(raw) if raw else {}


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def _manage(venv: Path, tool: str, *args: str, env: Mapping[str, str], log: Path) -> None:
    with log.open("ab") as out:
        subprocess.run(
            [str(venv / "bin" / tool), *args],
            check=True,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _keystone_conf(work: Path) -> Path:
    conf = work / "keystone"
    conf.mkdir()
    _write(
        conf / "keystone.conf",
        f"""\
        [DEFAULT]
        log_file = {work / "keystone.log"}
        [database]
        connection = sqlite:///{work / "keystone.db"}?timeout=30
        [token]
        provider = fernet
        expiration = 3600
        [fernet_tokens]
        key_repository = {work / "fernet-keys"}
        [fernet_receipts]
        key_repository = {work / "fernet-receipts"}
        [credential]
        key_repository = {work / "credential-keys"}
        [cache]
        enabled = false
        """,
    )
    return conf


def _glance_conf(venv: Path, work: Path, keystone_url: str, glance_port: int) -> Path:
    conf = work / "glance"
    conf.mkdir()
    for sub in ("images", "staging", "tasks", "cache", "locks"):
        (work / sub).mkdir()
    paste = (venv / "etc" / "glance" / "glance-api-paste.ini").read_text()
    (conf / "glance-api-paste.ini").write_text(paste)
    _write(
        conf / "glance-api.conf",
        f"""\
        [DEFAULT]
        log_file = {work / "glance.log"}
        enabled_backends = fs:file
        worker_self_reference_url = http://127.0.0.1:{glance_port}
        image_cache_dir = {work / "cache"}
        [database]
        connection = sqlite:///{work / "glance.db"}?timeout=30
        [paste_deploy]
        flavor = keystone
        [keystone_authtoken]
        www_authenticate_uri = {keystone_url}/v3
        auth_url = {keystone_url}/v3
        auth_type = password
        username = {GLANCE_USER}
        password = {GLANCE_PASSWORD}
        project_name = {SERVICE_PROJECT}
        user_domain_name = {DOMAIN}
        project_domain_name = {DOMAIN}
        region_name = {REGION}
        [glance_store]
        default_backend = fs
        [fs]
        filesystem_store_datadir = {work / "images"}
        [os_glance_staging_store]
        filesystem_store_datadir = {work / "staging"}
        [os_glance_tasks_store]
        filesystem_store_datadir = {work / "tasks"}
        [oslo_concurrency]
        lock_path = {work / "locks"}
        """,
    )
    return conf


def _gunicorn(
    venv: Path, name: str, app: str, port: int, *, work: Path, env: Mapping[str, str]
) -> Server:
    log = work / f"{name}-gunicorn.log"
    command = [
        str(venv / "bin" / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
        "--timeout",
        "120",
        "--chdir",
        str(work),
        "--access-logfile",
        str(work / f"{name}-access.log"),
        app,
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=dict(env), stdout=out, stderr=subprocess.STDOUT, cwd=work
        )
    return Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log)


def _wait_until_up(server: Server, path: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text()[-3000:]
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        with contextlib.suppress(OSError):
            status, _, _ = request("GET", server.url + path)
            if status < 500:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{server.name} did not answer within {START_TIMEOUT_S:.0f} s")


def _admin_token(keystone_url: str) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": ADMIN_USER,
                        "domain": {"name": DOMAIN},
                        "password": ADMIN_PASSWORD,
                    }
                },
            },
            "scope": {"project": {"name": ADMIN_PROJECT, "domain": {"name": DOMAIN}}},
        }
    }
    status, headers, raw = request("POST", keystone_url + "/v3/auth/tokens", body=body)
    if status != 201:
        raise RuntimeError(f"admin sign-in: HTTP {status}: {raw[:300]!r}")
    return headers["X-Subject-Token"]


def _register_glance(keystone_url: str, glance_url: str, token: str) -> dict[str, str]:
    v3 = keystone_url + "/v3"
    service = _call(
        "POST", v3 + "/services", token, {"service": {"type": "image", "name": "glance"}}
    )["service"]
    for interface in ("public", "internal"):
        endpoint = {
            "service_id": service["id"],
            "interface": interface,
            "region_id": REGION,
            "url": glance_url,
        }
        _call("POST", v3 + "/endpoints", token, {"endpoint": endpoint})
    project = _call(
        "POST",
        v3 + "/projects",
        token,
        {"project": {"name": SERVICE_PROJECT, "domain_id": "default"}},
    )["project"]
    user = _call(
        "POST",
        v3 + "/users",
        token,
        {"user": {"name": GLANCE_USER, "password": GLANCE_PASSWORD, "domain_id": "default"}},
    )["user"]
    roles = _call("GET", v3 + "/roles?name=admin", token)["roles"]
    role_id = roles[0]["id"]
    _call("PUT", f"{v3}/projects/{project['id']}/users/{user['id']}/roles/{role_id}", token)
    me = _call("GET", v3 + f"/users?name={ADMIN_USER}", token)["users"][0]
    admin_project = _call("GET", v3 + f"/projects?name={ADMIN_PROJECT}", token)["projects"][0]
    return {
        "image_service": service["id"],
        "admin_user": me["id"],
        "admin_project": admin_project["id"],
        "admin_role": role_id,
    }


def _environment(venv: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OS_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _set_up_keystone(venv: Path, work: Path, keystone_url: str, env: Mapping[str, str]) -> None:
    conf = ["--config-file", str(work / "keystone" / "keystone.conf")]
    log = work / "keystone-manage.log"
    user = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    _manage(venv, "keystone-manage", *conf, "db_sync", env=env, log=log)
    _manage(venv, "keystone-manage", *conf, "fernet_setup", *user, env=env, log=log)
    _manage(venv, "keystone-manage", *conf, "credential_setup", *user, env=env, log=log)
    bootstrap = [
        "bootstrap",
        "--bootstrap-password",
        ADMIN_PASSWORD,
        "--bootstrap-username",
        ADMIN_USER,
        "--bootstrap-project-name",
        ADMIN_PROJECT,
        "--bootstrap-region-id",
        REGION,
        "--bootstrap-public-url",
        keystone_url + "/v3",
        "--bootstrap-internal-url",
        keystone_url + "/v3",
        "--bootstrap-admin-url",
        keystone_url + "/v3",
    ]
    _manage(venv, "keystone-manage", *conf, *bootstrap, env=env, log=log)


def start_stack(workdir: Path, *, venv: Path | None = None) -> Stack:
    """Configure, start and seed Keystone and Glance in `workdir`; stopped again on failure."""
    venv = venv or ensure_venv()
    work = workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    keystone_port, glance_port = free_port(), free_port()
    keystone_url = f"http://127.0.0.1:{keystone_port}"
    glance_url = f"http://127.0.0.1:{glance_port}"
    keystone_conf = _keystone_conf(work)
    glance_conf = _glance_conf(venv, work, keystone_url, glance_port)
    (work / "keystone_wsgi.py").write_text(_KEYSTONE_WSGI)
    k_env = _environment(venv, OS_KEYSTONE_CONFIG_DIR=str(keystone_conf))
    g_env = _environment(venv, OS_GLANCE_CONFIG_DIR=str(glance_conf))
    _set_up_keystone(venv, work, keystone_url, k_env)
    _manage(
        venv,
        "glance-manage",
        "--config-dir",
        str(glance_conf),
        "db_sync",
        env=g_env,
        log=work / "glance-manage.log",
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    keystone = _gunicorn(
        venv, "keystone", "keystone_wsgi:application", keystone_port, work=work, env=k_env
    )
    glance: Server | None = None
    try:
        _wait_until_up(keystone, "/v3", deadline)
        token = _admin_token(keystone_url)
        ids = _register_glance(keystone_url, glance_url, token)
        glance = _gunicorn(
            venv, "glance", "glance.wsgi.api:application", glance_port, work=work, env=g_env
        )
        _wait_until_up(glance, "/versions", deadline)
    except BaseException:
        if glance is not None:
            glance.stop()
        keystone.stop()
        raise
    return Stack(workdir=work, keystone=keystone, glance=glance, admin_token=token, ids=ids)


def _main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="batch-ims-openstack-") as tmp:
        started = time.monotonic()
        stack = start_stack(Path(tmp))
        try:
            print(f"keystone {stack.auth_url}  glance {stack.glance.url}", flush=True)
            print(f"started in {time.monotonic() - started:.1f} s; Ctrl-C stops", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        finally:
            stack.stop()


if __name__ == "__main__":
    sys.exit(_main())
