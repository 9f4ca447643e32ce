"""batch_ims.transport.exchange: the retry loop, with a fake client, a fake clock and no sleeping.

The answers are read by the real IMS service (pure knowledge, no I/O); the pacer is the real
one on a fake clock whose sleep only advances the clock; the backoff `pause` only records.
"""

from __future__ import annotations

import asyncio

import pytest

from batch_ims.transport.client import TransportError
from batch_ims.transport.exchange import AttemptCount, Exchange
from tests.fakes import IMAGE_ID, LATENCY_S, SERVICE, ExchangeHarness, answer


def _status(exchange: Exchange) -> int | None:
    return exchange.result.status if exchange.result is not None else None


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(500, ""), (502, ""), (503, ""), (504, ""), (429, ""), (400, "IMG.0060")]
)
async def test_retryable_answer_is_retried_up_to_max_attempts_with_the_policy_delays(
    status: int, code: str
) -> None:
    harness = ExchangeHarness([answer(status, code) for _ in range(4)], max_attempts=4)

    exchange = await harness.exchange()

    assert len(harness.client.sent) == 4
    # full jitter with rand 0.5: half of 0.5, 1.0, 2.0 s after attempts 1, 2, 3
    assert harness.pauses == [0.25, 0.5, 1.0]
    assert harness.observer.backoffs == [0.25, 0.5, 1.0]  # the worker held, told as it starts
    assert harness.observer.sent == 4
    assert (_status(exchange), exchange.attempts, exchange.ok) == (status, 4, False)
    assert exchange.error is not None
    assert exchange.error.code == (code or f"HTTP_{status}")
    assert (exchange.stopped, exchange.lost_answer) == (False, False)


async def test_retried_request_that_then_succeeds_ends_ok_with_every_attempt_counted() -> None:
    harness = ExchangeHarness([answer(503), answer(429), answer(200, request_id="req-ok")])

    exchange = await harness.exchange()

    assert (exchange.ok, exchange.attempts, exchange.error) == (True, 3, None)
    assert exchange.result is not None
    assert exchange.result.request_id == "req-ok"
    assert harness.pauses == [0.25, 0.5]


@pytest.mark.parametrize(
    ("status", "code"), [(400, "IMG.0001"), (403, "IMG.0044"), (404, "IMG.0027"), (409, "")]
)
async def test_4xx_that_is_not_retryable_is_sent_once(status: int, code: str) -> None:
    harness = ExchangeHarness([answer(status, code), answer(200)])

    exchange = await harness.exchange()

    assert len(harness.client.sent) == 1
    assert harness.pauses == []
    assert (_status(exchange), exchange.attempts, exchange.stopped) == (status, 1, False)
    assert exchange.error is not None
    assert exchange.error.code == (code or f"HTTP_{status}")


async def test_tls_error_is_not_retried() -> None:
    harness = ExchangeHarness(
        [TransportError("tls_error", "certificate verify failed"), answer(200)]
    )

    exchange = await harness.exchange()

    assert len(harness.client.sent) == 1
    assert harness.pauses == []
    assert exchange.transport is not None
    assert (exchange.transport.kind, exchange.attempts, exchange.result) == ("tls_error", 1, None)


async def test_connection_error_is_retried_and_marks_the_answer_lost() -> None:
    lost = TransportError("connection_error", "ServerDisconnectedError")
    harness = ExchangeHarness([lost, answer(200)])

    exchange = await harness.exchange()

    assert (exchange.ok, exchange.attempts, exchange.lost_answer) == (True, 2, True)
    assert harness.pauses == [0.25]


async def test_connection_errors_until_attempts_run_out_end_with_the_transport_error() -> None:
    harness = ExchangeHarness(
        [TransportError("connection_error", "refused") for _ in range(3)], max_attempts=3
    )

    exchange = await harness.exchange()

    assert exchange.transport is not None
    assert (exchange.transport.kind, exchange.attempts) == ("connection_error", 3)
    assert (exchange.result, exchange.lost_answer, exchange.stopped) == (None, True, False)


async def test_an_answered_request_does_not_mark_the_answer_lost() -> None:
    harness = ExchangeHarness([answer(503), answer(200)])

    exchange = await harness.exchange()

    assert exchange.lost_answer is False


# --- Retry-After -------------------------------------------------------------------------------


async def test_retry_after_is_the_backoff_and_pushes_back_the_pacer_for_everyone() -> None:
    harness = ExchangeHarness([answer(429, retry_after="7"), answer(200)])

    exchange = await harness.exchange()

    assert exchange.ok is True
    assert harness.pauses == [7.0]
    # the next slot, for this request or any other, is 7 s after the throttle
    assert harness.slot_waits == [pytest.approx(7.0)]
    assert harness.observer.backoffs == []  # every worker waits alike: not this one's backoff


async def test_retry_after_beyond_max_retry_after_is_capped() -> None:
    harness = ExchangeHarness(
        [answer(429, retry_after="3600"), answer(200)], max_retry_after_s=120.0
    )

    exchange = await harness.exchange()

    assert exchange.ok is True
    assert harness.pauses == [120.0]
    assert harness.slot_waits == [pytest.approx(120.0)]


async def test_retry_after_on_an_answer_that_is_not_a_throttle_does_not_hold_the_pacer() -> None:
    harness = ExchangeHarness([answer(503, retry_after="7"), answer(200)])

    await harness.exchange()

    assert harness.pauses == [7.0]  # this request waits as asked ...
    assert harness.slot_waits == []  # ... but nobody else is held back


# --- 401: one re-authentication --------------------------------------------------------------


async def test_401_re_authenticates_once_and_retries_when_that_succeeds() -> None:
    harness = ExchangeHarness([answer(401, "APIG.0307"), answer(200)], renewed=True)

    exchange = await harness.exchange()

    assert harness.auth.calls == [("APIG.0307", "APIG.0307 says no")]
    assert (exchange.ok, exchange.attempts) == (True, 2)
    assert harness.pauses == []  # renewed credentials need no backoff


async def test_a_second_401_after_re_authentication_is_final() -> None:
    harness = ExchangeHarness([answer(401, "APIG.0307"), answer(401, "APIG.0301")], renewed=True)

    exchange = await harness.exchange()

    assert len(harness.auth.calls) == 1
    assert (_status(exchange), exchange.attempts) == (401, 2)
    assert exchange.error is not None
    assert exchange.error.code == "APIG.0301"


async def test_401_is_final_when_re_authentication_fails() -> None:
    harness = ExchangeHarness([answer(401, "APIG.0301"), answer(200)], renewed=False)

    exchange = await harness.exchange()

    assert len(harness.auth.calls) == 1
    assert (_status(exchange), exchange.attempts) == (401, 1)
    assert len(harness.client.sent) == 1


async def test_403_does_not_re_authenticate() -> None:
    harness = ExchangeHarness([answer(403, "APIG.0302")])

    await harness.exchange()

    assert harness.auth.calls == []


# --- stopping ----------------------------------------------------------------------------------


async def test_a_stop_before_the_first_slot_sends_nothing() -> None:
    harness = ExchangeHarness([answer(200)])
    harness.stop()

    exchange = await harness.exchange()

    assert harness.client.sent == []
    assert (exchange.stopped, exchange.attempts, exchange.result) == (True, 0, None)


async def test_a_stop_while_waiting_for_a_slot_sends_nothing_and_reports_attempts_sent() -> None:
    harness = ExchangeHarness([answer(503), answer(200)], ceiling=1.0)  # the next slot is 1 s away
    harness.on_slot_wait = harness.stop

    exchange = await harness.exchange()

    assert len(harness.client.sent) == 1
    assert harness.slot_waits == [pytest.approx(1.0 - LATENCY_S)]
    assert (exchange.stopped, exchange.attempts) == (True, 1)
    assert (exchange.result, exchange.error, exchange.transport) == (None, None, None)


async def test_a_stop_during_the_backoff_ends_with_the_last_answer_and_stopped() -> None:
    harness = ExchangeHarness([answer(503), answer(200)])
    harness.on_pause = harness.stop

    exchange = await harness.exchange()

    assert len(harness.client.sent) == 1
    assert (_status(exchange), exchange.attempts, exchange.stopped) == (503, 1, True)
    assert harness.observer.retries == 0


async def test_a_lost_answer_then_a_stop_ends_stopped_with_the_transport_error() -> None:
    harness = ExchangeHarness([TransportError("connection_error", "reset"), answer(200)])
    harness.client.on_send = harness.stop  # the stop comes while the attempt is in flight

    exchange = await harness.exchange()

    assert len(harness.client.sent) == 1
    assert harness.pauses == []
    assert exchange.transport is not None
    assert (exchange.transport.kind, exchange.attempts) == ("connection_error", 1)
    assert (exchange.lost_answer, exchange.stopped) == (True, True)


async def test_a_final_non_retryable_answer_is_not_marked_stopped_even_when_stopping() -> None:
    harness = ExchangeHarness([answer(404, "IMG.0027")])
    harness.client.on_send = harness.stop

    exchange = await harness.exchange()

    assert (_status(exchange), exchange.stopped) == (404, False)


# --- attempt count and observer -----------------------------------------------------------------


async def test_attempt_count_grows_as_each_attempt_goes_out() -> None:
    harness = ExchangeHarness([answer(503), TransportError("timeout", "slow"), answer(200)])
    count = AttemptCount()
    harness.client.count = count

    exchange = await harness.exchange(count=count)

    assert harness.client.counts_seen == [1, 2, 3]  # counted before the answer is known
    assert (count.sent, exchange.attempts) == (3, 3)


async def test_observer_sees_every_request_with_its_method_and_latency() -> None:
    harness = ExchangeHarness(
        [answer(429), TransportError("timeout", "slow"), answer(400, "IMG.0060"), answer(200)]
    )

    await harness.exchange()
    harness.client.answers.append(answer(200))
    await harness.exchange(SERVICE.read(IMAGE_ID))

    latency_ms = LATENCY_S * 1000  # exact: the fake clock moves by a power of two
    assert harness.observer.requests == [
        ("PATCH", latency_ms, 429),
        ("PATCH", latency_ms, "timeout"),
        ("PATCH", latency_ms, 400),
        ("PATCH", latency_ms, 200),
        ("GET", latency_ms, 200),
    ]
    assert (harness.observer.throttles, harness.observer.retries) == (2, 3)


async def test_throttles_in_a_row_lower_the_shared_rate() -> None:
    harness = ExchangeHarness([answer(429) for _ in range(3)] + [answer(200)], ceiling=100.0)

    await harness.exchange()

    assert harness.rate.decreases == 1
    assert harness.rate.current < 100.0


# --- `stopped` only when a retry was due ---------------------------------------------------
# A request whose attempts ran out (or a tls_error, never retried) that ends while the run is
# stopping failed for good: it is not "stopped before the next retry".


async def test_last_allowed_attempt_ending_during_a_stop_is_not_marked_stopped() -> None:
    harness = ExchangeHarness([answer(503), answer(503)], max_attempts=2)
    harness.client.on_send = lambda: harness.stop() if len(harness.client.sent) == 2 else None

    exchange = await harness.exchange()

    assert (exchange.attempts, exchange.stopped) == (2, False)


async def test_tls_error_during_a_stop_is_not_marked_stopped() -> None:
    harness = ExchangeHarness([TransportError("tls_error", "certificate verify failed")])
    harness.client.on_send = harness.stop

    exchange = await harness.exchange()

    assert (exchange.attempts, exchange.stopped) == (1, False)


async def test_a_request_cancelled_in_flight_is_reported_to_the_observer_as_sent() -> None:
    harness = ExchangeHarness([answer(200)])
    count = AttemptCount()

    def cancelled() -> None:
        raise asyncio.CancelledError

    harness.client.on_send = cancelled
    with pytest.raises(asyncio.CancelledError):
        await harness.exchange(count=count)

    assert count.sent == 1
    assert harness.observer.requests == [("PATCH", 0.0, "cancelled")]
