"""batch_ims.transport.client: a socket this process could not open (no descriptor left) is
told apart from an endpoint that refused, whatever aiohttp wraps it in."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any, cast

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from yarl import URL

from batch_ims.transport.client import OUT_OF_DESCRIPTORS, HttpClient, Request, TransportError

REQUEST = Request("PATCH", URL("http://127.0.0.1:9/v2/x"), {})


class _Refusing:
    """A session whose every request raises `error` (as the connector does)."""

    def __init__(self, error: BaseException) -> None:
        self._error = error

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise self._error


async def _headers(method: str, url: URL, body: bytes, own: Mapping[str, str]) -> dict[str, str]:
    return dict(own)


async def _kind(error: BaseException) -> str:
    client = HttpClient(cast(aiohttp.ClientSession, _Refusing(error)), _headers)
    with pytest.raises(TransportError) as raised:
        await client.send(REQUEST, b"{}")
    return raised.value.kind


def _connector_error(code: int) -> aiohttp.ClientConnectorError:
    key = ConnectionKey("127.0.0.1", 9, False, True, None, None, None, None)
    return aiohttp.ClientConnectorError(key, OSError(code, errno.errorcode[code]))


async def test_no_descriptor_left_in_the_connector_is_out_of_descriptors() -> None:
    assert await _kind(_connector_error(errno.EMFILE)) == OUT_OF_DESCRIPTORS
    assert await _kind(_connector_error(errno.ENFILE)) == OUT_OF_DESCRIPTORS


async def test_no_descriptor_left_under_another_exception_is_still_out_of_descriptors() -> None:
    try:
        raise OSError(errno.EMFILE, "Too many open files")
    except OSError as cause:
        wrapped = aiohttp.ClientOSError("cannot open a socket")
        wrapped.__cause__ = cause

    assert await _kind(wrapped) == OUT_OF_DESCRIPTORS


async def test_a_refused_connection_stays_a_connection_error() -> None:
    assert await _kind(_connector_error(errno.ECONNREFUSED)) == "connection_error"
