"""A hostile Keystone on loopback for end-to-end tests of the sign-in, served from a thread of
the test process: version discovery, and a token request that is redirected elsewhere,
refused, or never answered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Behaviour = Literal["refuse", "redirect", "silent"]


@dataclass
class HostileKeystone:
    """What the server does with `POST /v3/auth/tokens`, and every request it received."""

    behaviour: Behaviour
    redirect_to: str = ""
    url: str = ""
    received: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(keystone: HostileKeystone) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            keystone.received.append(f"GET {self.path}")
            link = {"rel": "self", "href": keystone.url + "/v3/"}
            self._json(200, {"version": {"id": "v3.14", "status": "stable", "links": [link]}})

        def do_POST(self) -> None:
            keystone.received.append(f"POST {self.path}")
            length = int(self.headers.get("Content-Length", 0))
            keystone.bodies.append(self.rfile.read(length).decode())
            if keystone.behaviour == "silent":
                keystone.release.wait()
                return
            if keystone.behaviour == "redirect":
                self.send_response(307)
                self.send_header("Location", keystone.redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            error = {"code": 401, "title": "Unauthorized", "message": "未授权"}
            self._json(401, {"error": error})

        def _json(self, status: int, document: object) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    return Handler


@contextmanager
def hostile_keystone(behaviour: Behaviour, *, redirect_to: str = "") -> Iterator[HostileKeystone]:
    keystone = HostileKeystone(behaviour, redirect_to=redirect_to)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(keystone))
    server.daemon_threads = True
    keystone.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield keystone
    finally:
        keystone.release.set()
        server.shutdown()
        server.server_close()
