"""Signing in to Keystone, hardened like the image service's path (`transport.endpoint`):

- `auth_url` carrying `user:password@` is refused without being echoed; it must be https, or
  plain http to loopback, unless the run gave `--insecure` (then any host, with a warning);
- every request of the sign-in (version discovery, the token POST, wherever discovery points)
  passes the same check before it is sent, and a redirect is never followed: the password is
  never re-sent to a place the user did not name;
- the run's `--timeout` bounds every request;
- keystoneauth blocks, so it runs in a daemon thread: a silent Keystone cannot keep the process
  alive after a signal stopped the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import structlog

from batch_ims.errors import UsageError
from batch_ims.transport.endpoint import check_endpoint, is_loopback

if TYPE_CHECKING:
    import requests

log = structlog.get_logger()

T = TypeVar("T")

EXAMPLE = "https://keystone.example.com:5000/v3"
CONSENT = "--insecure"


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    """What the run allows its sign-in: seconds per request, plain http to any host."""

    timeout_s: float
    plain_http: bool = False


class SignInRefusedError(Exception):
    """A request of the sign-in went, or was sent, somewhere it must not: the message says
    where and why, without any credential."""


def check_sign_in_url(url: str, *, name: str, policy: SignInPolicy) -> None:
    """UsageError naming `name` when `url` has userinfo, is not http(s), or is plain http to a
    non-loopback host without consent."""
    check_endpoint(url, name=name, example=EXAMPLE, plain_http=True)
    try:  # only the loopback rule is left to fail
        check_endpoint(url, name=name, example=EXAMPLE, plain_http=policy.plain_http)
    except UsageError as error:
        raise UsageError(f"{error}; {CONSENT} accepts it anyway") from None


def is_secure_sign_in(url: str) -> bool:
    """Whether a checked sign-in URL keeps the password off the network in clear: https, or
    plain http to loopback (the rest passed only with `--insecure`)."""
    parsed = urlsplit(url)
    return parsed.scheme == "https" or is_loopback(parsed.hostname or "")


def _quiet_keystoneauth() -> None:
    """keystoneauth logs through the standard library, which with no handler prints warnings raw
    on stderr between the JSON lines; what they say, the run's own events say."""
    logger = logging.getLogger("keystoneauth")
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def requests_session(policy: SignInPolicy) -> requests.Session:
    """A requests session for keystoneauth: every URL checked before it is sent, and a redirect
    answer refused rather than returned (keystoneauth is also told not to follow it)."""
    import requests

    _quiet_keystoneauth()

    class _Guarded(requests.Session):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            url = request.url or ""
            try:
                check_sign_in_url(url, name="a sign-in request", policy=policy)
            except UsageError as error:
                raise SignInRefusedError(str(error)) from None
            response = super().send(request, **kwargs)
            if response.is_redirect or response.is_permanent_redirect:
                response.close()
                raise SignInRefusedError(
                    f"{request.method} {_without_query(url)} answered HTTP "
                    f"{response.status_code} with a redirect, which a sign-in never follows; "
                    "set auth_url to the final address"
                )
            return response

    return _Guarded()


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


async def in_daemon_thread(call: Callable[[], T], *, name: str) -> T:
    """`call()` in a daemon thread. Unlike `asyncio.to_thread`, a call that never returns does
    not hold the process at exit: cancelling the await abandons it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return  # cancelled: nobody waits any more
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = call(), None
        except BaseException as caught:  # handed to the awaiting task
            result, error = None, caught
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run has ended
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future
