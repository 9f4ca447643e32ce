"""One image, start to finish: the PATCH, its verification, a lost answer reconciled.

Turns exchanges (`transport.exchange`) into outcome records (`models`): what was really
sent, how it ended, and the note that explains it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from batch_ims.clouds.service import ImageService, ListPage
from batch_ims.manifest.rules import AttributeRules
from batch_ims.models import Finished, ImageTask, Op, Status, ops_json, sent
from batch_ims.transport.exchange import AttemptCount, Exchange, Exchanger
from batch_ims.values import mismatches

_LOST_THEN_APPLIED = "answer to an earlier attempt was lost; GET shows the change applied"
_APPLIED_AFTER_LOST = "applied after a lost answer (add/replace are idempotent)"
_READ_FAILED = "the read before the PATCH failed: no PATCH sent"


def _join(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def _stopped_note(exchange: Exchange, *, patched: bool) -> str:
    """The note of an exchange the run stopped before it got an answer."""
    if not exchange.attempts:
        return "not sent: the run stopped first"
    if not patched:
        return _join(_READ_FAILED, "the run stopped before the next retry")
    note = "run stopped before the next retry"
    if exchange.lost_answer:
        note += "; an earlier attempt got no answer and may have been applied"
    return note


class ImageStep:
    def __init__(
        self,
        *,
        exchanger: Exchanger,
        service: ImageService,
        verify: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._exchanger = exchanger
        self._service = service
        self._verify = verify
        self._clock = clock

    async def read(self, image_id: str) -> tuple[dict[str, Any] | None, Exchange]:
        """The image's current attributes, paced and retried like a PATCH."""
        exchange = await self._exchanger.exchange(self._service.read(image_id))
        result = exchange.result
        image = self._service.parse_image(result.body) if exchange.ok and result else None
        return image, exchange

    @property
    def list_filters(self) -> frozenset[str]:
        """The filters the service's image list documents."""
        return self._service.list_filters

    async def list_page(
        self, filters: Mapping[str, str], cursor: str | None, limit: int
    ) -> tuple[ListPage | None, Exchange]:
        """One page of the image list (None when the answer is not one), paced and retried."""
        request = self._service.list_request(filters, cursor, limit)
        exchange = await self._exchanger.exchange(request)
        result = exchange.result
        page = self._service.parse_list(result.body) if exchange.ok and result else None
        return page, exchange

    async def service_rules(self) -> AttributeRules | None:
        """The service's live attribute rules (Glance's schema), read once; None without."""
        request = self._service.rules_request()
        if request is None:
            return None
        exchange = await self._exchanger.exchange(request)
        if not exchange.ok or exchange.result is None:
            return None
        return self._service.rules_from(exchange.result.body)

    async def patch(
        self, task: ImageTask, count: AttemptCount, ops: tuple[Op, ...] | None = None
    ) -> Finished:
        """PATCH `ops` (default: the task's) and conclude; `count` shows attempts in flight."""
        started = self._clock()
        intended = ops if ops is not None else task.ops
        body = self._service.body(intended, ops_json(intended))
        exchange = await self._exchanger.exchange(self._service.patch(task.image_id), body, count)
        finished = await self._conclude(task, ops, started, exchange)
        applied = exchange.ok or exchange.lost_answer
        return Finished(finished.outcome, finished.auth_failure, may_have_applied=applied)

    async def _conclude(
        self, task: ImageTask, ops: tuple[Op, ...] | None, started: float, exchange: Exchange
    ) -> Finished:
        intended = ops if ops is not None else task.ops
        result = exchange.result
        if exchange.ok and result is not None:
            wrong = self._verify_answer(result.body, intended)
            if wrong:
                message = "answer differs from the intended values for: " + ", ".join(wrong)
                return self.finish(
                    task,
                    started,
                    exchange,
                    Status.FAILED,
                    ops,
                    code="verify_mismatch",
                    message=message,
                )
            note = _APPLIED_AFTER_LOST if exchange.lost_answer else ""
            return self.finish(task, started, exchange, Status.SUCCEEDED, ops, note=note)
        if result is not None and result.status == 409 and exchange.lost_answer:
            image, _ = await self.read(task.image_id)
            if image is not None and not mismatches(image, intended):
                return self.finish(
                    task, started, exchange, Status.SUCCEEDED, ops, note=_LOST_THEN_APPLIED
                )
        return self.failed(task, started, exchange, ops)

    def _verify_answer(self, body: bytes, ops: tuple[Op, ...]) -> list[str]:
        if not self._verify:
            return []
        image = self._service.parse_image(body)
        return mismatches(image, ops) if image is not None else ["(unreadable answer)"]

    def failed(
        self,
        task: ImageTask,
        started: float,
        exchange: Exchange,
        ops: tuple[Op, ...] | None = None,
    ) -> Finished:
        """The outcome of a PATCH exchange that did not succeed."""
        return self._failed(task, started, exchange, ops, patched=True)

    def read_failed(self, task: ImageTask, started: float, exchange: Exchange) -> Finished:
        """The outcome of an image whose read (before its PATCH) did not succeed: no PATCH
        was sent, so no attempt is counted and nothing may have been applied."""
        return self._failed(task, started, exchange, None, patched=False)

    def _failed(
        self,
        task: ImageTask,
        started: float,
        exchange: Exchange,
        ops: tuple[Op, ...] | None,
        *,
        patched: bool,
    ) -> Finished:
        transport = exchange.transport
        attempts = exchange.attempts if patched else 0
        if exchange.stopped and exchange.result is None:
            note = _stopped_note(exchange, patched=patched)
            return self.finish(
                task,
                started,
                exchange,
                Status.ABORTED,
                ops,
                code=transport.kind if transport else "",
                message=transport.detail if transport else "",
                note=note,
                attempts=attempts,
            )
        note = "" if patched else _READ_FAILED
        if transport is not None:
            return self.finish(
                task,
                started,
                exchange,
                Status.FAILED,
                ops,
                code=transport.kind,
                message=transport.detail,
                note=note,
                attempts=attempts,
            )
        error = exchange.error
        code, message = (error.code, error.message) if error is not None else ("", "")
        status = Status.ABORTED if exchange.stopped else Status.FAILED
        if exchange.stopped:
            note = _join(note, "run stopped before the next retry")
        finished = self.finish(
            task,
            started,
            exchange,
            status,
            ops,
            code=code,
            message=message,
            note=note,
            attempts=attempts,
        )
        http_status = exchange.result.status if exchange.result is not None else 0
        return Finished(finished.outcome, self._service.is_auth_failure(http_status, code))

    def finish(
        self,
        task: ImageTask,
        started: float,
        exchange: Exchange,
        status: Status,
        ops: tuple[Op, ...] | None = None,
        *,
        code: str = "",
        message: str = "",
        note: str = "",
        attempts: int | None = None,
    ) -> Finished:
        """The outcome; `attempts` (PATCHes sent) defaults to the exchange's."""
        result = exchange.result
        outcome = sent(
            task,
            status,
            http_status=result.status if result is not None else None,
            attempts=exchange.attempts if attempts is None else attempts,
            request_id=result.request_id if result is not None else "",
            duration_ms=int((self._clock() - started) * 1000),
            code=code,
            message=message,
            note=note,
            ops=ops,
            # the body's text, from ops_json's cache: the report and the journal use it
            ops_text=ops_json(ops if ops is not None else task.ops),
        )
        return Finished(outcome)
