"""batch_ims.clouds.openstack.signin: the sign-in's URL rule, its guarded requests session and
the daemon thread that keeps a silent Keystone from holding the process."""

from __future__ import annotations

import asyncio
import threading

import pytest

from batch_ims.clouds.openstack.signin import (
    SignInPolicy,
    SignInRefusedError,
    check_sign_in_url,
    in_daemon_thread,
    is_secure_sign_in,
    requests_session,
)
from batch_ims.errors import UsageError

STRICT = SignInPolicy(timeout_s=1.0)
CONSENTED = SignInPolicy(timeout_s=1.0, plain_http=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://keystone.example:5000/v3",
        "http://127.0.0.1:5000/v3",
        "http://[::1]:5000/v3",
        "http://localhost/identity/v3",
    ],
)
def test_https_and_loopback_http_pass(url: str) -> None:
    check_sign_in_url(url, name="auth_url", policy=STRICT)


def test_plain_http_elsewhere_passes_only_with_consent() -> None:
    url = "http://keystone.example:5000/v3"
    check_sign_in_url(url, name="auth_url", policy=CONSENTED)

    with pytest.raises(UsageError) as refused:
        check_sign_in_url(url, name="auth_url", policy=STRICT)

    assert str(refused.value).endswith("; --insecure accepts it anyway")


@pytest.mark.parametrize("policy", [STRICT, CONSENTED], ids=["strict", "consented"])
def test_userinfo_is_refused_even_with_consent_and_never_echoed(policy: SignInPolicy) -> None:
    with pytest.raises(UsageError) as refused:
        check_sign_in_url("http://u:口令-77@127.0.0.1/v3", name="auth_url", policy=policy)

    assert "口令-77" not in str(refused.value)
    assert "must not carry a user name or password" in str(refused.value)


def test_the_guarded_session_refuses_a_url_before_connecting() -> None:
    session = requests_session(STRICT)

    with pytest.raises(SignInRefusedError) as refused:
        session.post("http://keystone.example:5000/v3/auth/tokens", json={"p": "口令"})

    assert str(refused.value).startswith(
        "a sign-in request 'http://keystone.example:5000/v3/auth/tokens' uses plain http"
    )


async def test_a_call_that_never_returns_is_abandoned_when_the_await_is_cancelled() -> None:
    release = threading.Event()
    started = threading.Event()

    def hang() -> str:
        started.set()
        release.wait()
        return "late"

    waiting = asyncio.create_task(in_daemon_thread(hang, name="sign-in-test"))
    await asyncio.to_thread(started.wait)
    (thread,) = [t for t in threading.enumerate() if t.name == "sign-in-test"]
    waiting.cancel()

    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert thread.daemon
    release.set()


async def test_the_result_and_the_error_of_the_call_reach_the_awaiter() -> None:
    def fail() -> str:
        raise ValueError("拒绝")

    assert await in_daemon_thread(lambda: "令牌", name="ok") == "令牌"
    with pytest.raises(ValueError, match="拒绝"):
        await in_daemon_thread(fail, name="fail")


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://keystone.example:5000/v3", True),
        ("http://127.0.0.1:5000/v3", True),
        ("http://localhost/v3", True),
        ("http://keystone.example:5000/v3", False),
    ],
)
def test_only_plain_http_elsewhere_is_an_insecure_sign_in(url: str, secure: bool) -> None:
    assert is_secure_sign_in(url) is secure
