"""Transport helpers for end-to-end tests: a private CA made with the `cryptography` package, any
aiohttp app (the emulator's among them) served over HTTP or HTTPS from a background thread, and
the real CLI run with its peak memory measured."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import ssl
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from batch_ims.emulator.app import Emulator
from batch_ims.emulator.config import EmulatorConfig
from tests.e2e.harness import AK, SK


@dataclass(frozen=True, slots=True)
class CertFiles:
    """PEM files: the private CA's certificate, and the server's certificate and key."""

    ca: Path
    cert: Path
    key: Path


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_certificates(folder: Path, *, ip: str = "127.0.0.1") -> CertFiles:
    """A self-signed CA and a server certificate for `ip` signed by it (EC P-256, 2 days)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "batch-ims e2e test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(ip))]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    files = CertFiles(ca=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(_pem_key(key))
    return files


def server_context(certs: CertFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    return context


class BackgroundServer:
    """An aiohttp app served on loopback from a thread with its own event loop."""

    def __init__(
        self, app: web.Application, *, ssl_context: ssl.SSLContext | None, host: str
    ) -> None:
        self._app = app
        self._ssl = ssl_context
        self._host = host
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl is not None else "http"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self.port}"

    async def _start(self) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0, ssl_context=self._ssl)
        await site.start()
        address: Any = self._runner.addresses[0]
        return int(address[1])

    def start(self) -> None:
        self._thread.start()
        future: Future[int] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(timeout=30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@contextmanager
def serve_app(
    app: web.Application, *, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[BackgroundServer]:
    server = BackgroundServer(app, ssl_context=ssl_context, host=host)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True, slots=True)
class ServedEmulator:
    url: str
    emulator: Emulator


@contextmanager
def tls_emulator(certs: CertFiles, **config: Any) -> Iterator[ServedEmulator]:
    """The emulator (keys as in the harness unless given) served over HTTPS with `certs`."""
    config.setdefault("keys", ((AK, SK),))
    emulator = Emulator(EmulatorConfig(**config))
    with serve_app(emulator.app, ssl_context=server_context(certs)) as server:
        yield ServedEmulator(url=server.url, emulator=emulator)


@dataclass(frozen=True, slots=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    max_rss_kib: int


def cli_measured(
    args: Sequence[str], *, env: dict[str, str], folder: Path, timeout: float = 120
) -> Measured:
    """`python -m batch_ims ARGS` like the harness's `cli`, plus the child's peak memory.

    Output goes through files in `folder`; the child is reaped with `wait4` for its rusage.
    """
    out, err = folder / "cli-stdout.txt", folder / "cli-stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "batch_ims", *args],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, stdout.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2),
            ],
        )
    status, usage = _reap(pid, timeout)
    return Measured(
        returncode=os.waitstatus_to_exitcode(status),
        stdout=out.read_text(encoding="utf-8"),
        stderr=err.read_text(encoding="utf-8"),
        max_rss_kib=int(usage.ru_maxrss),
    )


def _reap(pid: int, timeout: float) -> tuple[int, resource.struct_rusage]:
    deadline = time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done == pid:
            return status, usage
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            raise TimeoutError(f"batch-ims did not finish within {timeout} s")
        time.sleep(0.02)
