"""End to end, issue 8's transport rules: TLS always verified (a private CA via --ca-bundle,
--insecure only loudly), plain http only to loopback, no redirects, capped response bodies."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from batch_ims.emulator.background import BackgroundEmulator
from batch_ims.emulator.config import EmulatorConfig
from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import (
    AK,
    PROJECT,
    SK,
    aksk_env,
    clean_env,
    cli,
    emulator,
    json_lines,
    read_report,
    write_csv,
)
from tests.e2e.tls import (
    CertFiles,
    cli_measured,
    make_certificates,
    serve_app,
    tls_emulator,
)

FAST = ["--rate", "100000"]
IAM_PASSWORD = "pw-e2e-transport"
FIVE_MB = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certificates(tmp_path_factory.mktemp("pki"))


def _manifest(tmp_path: Path, count: int) -> tuple[Path, list[str]]:
    ids = [generated_image_id(i) for i in range(count)]
    rows = [["image_id", "name"], *([image_id, f"tls-{i}"] for i, image_id in enumerate(ids))]
    return write_csv(tmp_path / "manifest.csv", rows), ids


def _run(tmp_path: Path, manifest: Path, endpoint: str) -> list[str]:
    return ["run", str(manifest), "--endpoint", endpoint, "--report", str(tmp_path / "r.csv")]


def _events(stderr: str, name: str) -> list[dict[str, object]]:
    return [event for event in json_lines(stderr) if event["event"] == name]


def test_https_to_a_private_ca_without_ca_bundle_fails_every_image_with_tls_error(
    tmp_path: Path, certs: CertFiles
) -> None:
    manifest, ids = _manifest(tmp_path, 3)
    with tls_emulator(certs, images=3) as served:
        args = _run(tmp_path, manifest, served.url)
        result = cli([*args, *FAST, "--max-attempts", "5"])  # a bad certificate is not retried
        applied = dict(served.emulator.apply_counts)
        requests = dict(served.emulator.request_counts)

    assert result.returncode == 1, result.stderr[-2000:]
    rows = read_report(tmp_path / "r.csv")
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    assert {(row["status"], row["error_code"]) for row in rows} == {("failed", "tls_error")}
    assert all("CERTIFICATE_VERIFY_FAILED" in row["error_message"] for row in rows)
    assert [row["attempts"] for row in rows] == ["1", "1", "1"]
    assert applied == {}
    assert requests == {}


def test_https_with_the_private_ca_in_ca_bundle_applies_every_image(
    tmp_path: Path, certs: CertFiles
) -> None:
    manifest, ids = _manifest(tmp_path, 3)
    with tls_emulator(certs, images=3) as served:
        args = _run(tmp_path, manifest, served.url)
        result = cli([*args, *FAST, "--ca-bundle", str(certs.ca)])
        names = {image_id: served.emulator.images[image_id]["name"] for image_id in ids}
        applied = dict(served.emulator.apply_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    assert names == {image_id: f"tls-{i}" for i, image_id in enumerate(ids)}
    assert applied == dict.fromkeys(ids, 1)
    assert _events(result.stderr, "tls.verification_disabled") == []


def test_certificate_for_another_host_name_is_refused_even_with_the_ca_bundle(
    tmp_path: Path, certs: CertFiles
) -> None:
    manifest, _ = _manifest(tmp_path, 2)
    with tls_emulator(certs, images=2) as served:
        endpoint = served.url.replace("127.0.0.1", "localhost")  # cert names IP 127.0.0.1 only
        args = _run(tmp_path, manifest, endpoint)
        result = cli([*args, *FAST, "--max-attempts", "1", "--ca-bundle", str(certs.ca)])
        applied = dict(served.emulator.apply_counts)

    assert result.returncode == 1, result.stderr[-2000:]
    rows = read_report(tmp_path / "r.csv")
    assert {(row["status"], row["error_code"]) for row in rows} == {("failed", "tls_error")}
    assert all("Hostname mismatch" in row["error_message"] for row in rows)
    assert applied == {}


def test_insecure_succeeds_against_an_unknown_ca_and_logs_a_loud_warning(
    tmp_path: Path, certs: CertFiles
) -> None:
    manifest, ids = _manifest(tmp_path, 3)
    with tls_emulator(certs, images=3) as served:
        args = _run(tmp_path, manifest, served.url)
        result = cli([*args, *FAST, "--insecure"])
        applied = dict(served.emulator.apply_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    assert applied == dict.fromkeys(ids, 1)
    warnings = _events(result.stderr, "tls.verification_disabled")
    assert [(event["level"], event["endpoint"]) for event in warnings] == [("warning", served.url)]


def test_insecure_together_with_ca_bundle_is_a_usage_error_and_sends_nothing(
    tmp_path: Path, certs: CertFiles
) -> None:
    manifest, _ = _manifest(tmp_path, 2)
    with emulator(images=2) as running:
        args = _run(tmp_path, manifest, running.url)
        result = cli([*args, *FAST, "--insecure", "--ca-bundle", str(certs.ca)])
        requests = dict(running.emulator.request_counts)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--insecure" in result.stderr
    assert "--ca-bundle" in result.stderr
    assert requests == {}
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://ims.cn-north-4.myhuaweicloud.com",
        "http://10.0.0.8:8080",
        "http://[2001:db8::1]:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(tmp_path: Path, endpoint: str) -> None:
    manifest, _ = _manifest(tmp_path, 1)
    result = cli([*_run(tmp_path, manifest, endpoint), *FAST])
    assert result.returncode == 2
    errors = [e for e in json_lines(result.stderr) if e["level"] == "error"]
    assert [e["event"] for e in errors] == ["run.error"], result.stderr
    assert "plain http" in errors[0]["error"]


def test_plain_http_iam_endpoint_to_a_non_loopback_host_is_refused(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path, 1)
    env = clean_env(
        BATCH_IMS_IAM_USER="ops",
        BATCH_IMS_IAM_PASSWORD=IAM_PASSWORD,
        BATCH_IMS_IAM_DOMAIN="acme",
        HUAWEICLOUD_SDK_PROJECT_ID=PROJECT,
        HUAWEICLOUD_SDK_IAM_ENDPOINT="http://iam.example.com",
    )
    with emulator(images=1) as running:
        result = cli([*_run(tmp_path, manifest, running.url), *FAST], env=env)
        requests = dict(running.emulator.request_counts)
    assert result.returncode == 2
    assert "HUAWEICLOUD_SDK_IAM_ENDPOINT" in result.stderr
    assert requests == {}


@pytest.mark.parametrize(
    ("bind", "host"), [("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "localhost"), ("::1", "[::1]")]
)
def test_plain_http_to_a_loopback_host_is_allowed(tmp_path: Path, bind: str, host: str) -> None:
    manifest, ids = _manifest(tmp_path, 2)
    config = EmulatorConfig(images=2, keys=((AK, SK),))
    with BackgroundEmulator(config, host=bind) as running:
        port = running.url.rsplit(":", 1)[1]
        result = cli([*_run(tmp_path, manifest, f"http://{host}:{port}"), *FAST])
        applied = dict(running.emulator.apply_counts)
    assert result.returncode == 0, result.stderr[-2000:]
    assert applied == dict.fromkeys(ids, 1)


class _Redirector:
    """Answers every request with `status` and a Location on the real emulator."""

    def __init__(self, status: int, target: str) -> None:
        self.status = status
        self.target = target
        self.seen: Counter[str] = Counter()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        self.seen[request.method] += 1
        location = self.target + request.path_qs
        return web.Response(status=self.status, headers={"Location": location})


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed_and_the_image_fails_with_the_code(
    tmp_path: Path, status: int
) -> None:
    manifest, ids = _manifest(tmp_path, 2)
    with emulator(images=2) as running:
        redirector = _Redirector(status, running.url)
        with serve_app(redirector.app) as server:
            result = cli([*_run(tmp_path, manifest, server.url), *FAST])
        requests = dict(running.emulator.request_counts)

    assert result.returncode == 1, result.stderr[-2000:]
    rows = read_report(tmp_path / "r.csv")
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    assert {(row["status"], row["http_status"], row["error_code"]) for row in rows} == {
        ("failed", str(status), f"HTTP_{status}")
    }
    assert redirector.seen == Counter({"PATCH": 2})
    assert requests == {}


def _iam_env(case: str, iam_url: str) -> tuple[dict[str, str], list[str]]:
    if case == "sign-in":
        env = clean_env(
            BATCH_IMS_IAM_USER="ops",
            BATCH_IMS_IAM_PASSWORD=IAM_PASSWORD,
            BATCH_IMS_IAM_DOMAIN="acme",
            HUAWEICLOUD_SDK_PROJECT_ID=PROJECT,
            HUAWEICLOUD_SDK_IAM_ENDPOINT=iam_url,
        )
        return env, []
    env = clean_env(HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK)
    return {**env, "HUAWEICLOUD_SDK_IAM_ENDPOINT": iam_url}, ["--region", "cn-north-4"]


@pytest.mark.parametrize(("case", "status"), [("sign-in", 307), ("project-lookup", 302)])
def test_iam_redirects_are_not_followed_either(tmp_path: Path, case: str, status: int) -> None:
    manifest, _ = _manifest(tmp_path, 2)
    config = {"iam_users": (("acme", "ops", IAM_PASSWORD),), "project_id": PROJECT}
    with emulator(images=2, **config) as running:
        redirector = _Redirector(status, running.url)
        with serve_app(redirector.app) as server:
            env, extra = _iam_env(case, server.url)
            result = cli([*_run(tmp_path, manifest, running.url), *FAST, *extra], env=env)
        requests = dict(running.emulator.request_counts)

    assert result.returncode == 3, result.stderr[-2000:]
    assert sum(redirector.seen.values()) == 1
    assert requests == {}  # neither the password nor the signed lookup reached the target
    assert {row["status"] for row in read_report(tmp_path / "r.csv")} == {"aborted"}


def _huge_error_app(body: bytes, seen: Counter[str]) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        seen[request.method] += 1
        return web.Response(status=400, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def _error_body(size: int) -> bytes:
    head = b'{"error": {"code": "IMG.0001", "message": "'
    tail = b'"}}'
    return head + b"A" * (size - len(head) - len(tail)) + tail


def _measured_run(tmp_path: Path, body: bytes, count: int) -> tuple[int, int, list[dict[str, str]]]:
    manifest, _ = _manifest(tmp_path, count)
    seen: Counter[str] = Counter()
    with serve_app(_huge_error_app(body, seen)) as server:
        args = [*_run(tmp_path, manifest, server.url), *FAST, "--concurrency", "16"]
        measured = cli_measured([*args, "--max-attempts", "1"], env=aksk_env(), folder=tmp_path)
    assert measured.returncode == 1, measured.stderr[-2000:]
    assert seen == Counter({"PATCH": count})
    return measured.returncode, measured.max_rss_kib, read_report(tmp_path / "r.csv")


def test_five_megabyte_error_bodies_are_capped_short_in_the_report_and_in_memory(
    tmp_path: Path,
) -> None:
    (tmp_path / "small").mkdir()
    (tmp_path / "huge").mkdir()
    _, small_rss, _ = _measured_run(tmp_path / "small", _error_body(200), 32)
    code, huge_rss, rows = _measured_run(tmp_path / "huge", _error_body(FIVE_MB), 32)

    assert code == 1
    assert len(rows) == 32
    assert {(row["status"], row["http_status"]) for row in rows} == {("failed", "400")}
    assert max(len(row["error_message"]) for row in rows) <= 1000
    # Reading these answers whole costs ~50 MB more (measured); a 1 MiB cap keeps it to a few.
    assert huge_rss - small_rss < 24 * 1024, (small_rss, huge_rss)


def _piecewise_app(body: bytes) -> web.Application:
    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=404, headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[:12])
        await asyncio.sleep(0.05)  # the server's pause between two pieces of its answer
        await response.write(body[12:])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def test_an_error_answer_arriving_in_two_pieces_is_read_whole_below_the_cap(
    tmp_path: Path,
) -> None:
    body = json.dumps({"error": {"code": "IMG.0027", "message": "The image does not exist."}})
    manifest, _ = _manifest(tmp_path, 1)
    with serve_app(_piecewise_app(body.encode())) as server:
        result = cli([*_run(tmp_path, manifest, server.url), *FAST, "--max-attempts", "1"])

    assert result.returncode == 1, result.stderr[-2000:]
    [row] = read_report(tmp_path / "r.csv")
    assert (row["http_status"], row["error_code"], row["error_message"]) == (
        "404",
        "IMG.0027",
        "The image does not exist.",
    )
