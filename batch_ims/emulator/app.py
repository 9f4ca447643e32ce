"""The emulator: IMS's image PATCH/GET and IAM behind an APIG-like gateway, with faults.

The image lists (IMS's ListImages, Glance's `GET /v2/images`) filter and page as the
real APIs do, capped at `page_cap` images a page (`listing`).

Per IMS request (PATCH and GET /v2/cloudimages) the gateway, in order: records the
arrival, takes a rate-limit token, sleeps `latency_ms` (constant, or drawn from an
exponential distribution of that mean), answers 429 if there was no
token, authenticates (401), checks the project (403), then rolls the fault dice
(connection reset, 5xx, 400 IMG.0060). Only then does IMS process the request; a
success may still lose its answer (`drop_after_apply_rate`). All work per request is
O(1) in the number of images, and nothing is logged per request.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from batch_ims.emulator.auth import Authenticator
from batch_ims.emulator.config import EmulatorConfig
from batch_ims.emulator.faults import Fault, FaultDice, Latency, TokenBucket
from batch_ims.emulator.iam import IamService
from batch_ims.emulator.images import Image, generate_images, load_seed, utc_timestamp
from batch_ims.emulator.listing import ImageOrder, Listed, ListError, list_page
from batch_ims.emulator.patch import PatchError, apply_ops, parse_ops
from batch_ims.emulator.responses import (
    IMS_THROTTLED,
    NOT_ACTIVE,
    NOT_FOUND_IMAGE,
    apig_error,
    glance_error,
    ims_error,
    json_response,
    server_error,
)

ARRIVALS_KEPT = 1_000_000
GLANCE_PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
_TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
_CONTROL_PREFIX = "/_emulator/"
_REQUEST_ID = web.RequestKey("request_id", str)
_ARRIVED_AT = web.RequestKey("arrived_at", float)


class _NoAnswer(Exception):
    """Close the connection without answering; `kind` is counted in `fault_counts`."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Emulator:
    """State and statistics of one emulated IMS + IAM; `app` serves them over HTTP.

    `clock` is the wall clock (epoch seconds: token expiry, signature skew, `Date`,
    `updated_at`); `monotonic` times arrivals and the rate limit; `sleep` is awaited for
    the injected latency. All three can be replaced in tests.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.images: dict[str, Image] = _initial_images(config)
        self._order = ImageOrder(self.images)
        self.apply_counts: Counter[str] = Counter()
        self.arrivals: deque[float] = deque(maxlen=ARRIVALS_KEPT)
        self.status_counts: Counter[int] = Counter()
        self.fault_counts: Counter[str] = Counter()
        self.request_counts: Counter[str] = Counter()
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._auth = Authenticator(config, clock=self.wall_time)
        self._iam = IamService(config, self._auth, clock=self.wall_time)
        self._dice = FaultDice(config)
        self._latency = Latency(config)
        self.in_flight = 0  # requests arrived and not yet answered
        self.in_flight_peak = 0
        self._bucket = _bucket(config, now=monotonic())
        self._app: web.Application | None = None

    @property
    def token_issued(self) -> int:
        """How many tokens IAM's password sign-in has issued."""
        return self._iam.tokens_issued

    @property
    def app(self) -> web.Application:
        if self._app is None:
            self._app = self._build_app()
        return self._app

    def wall_time(self) -> float:
        return self._clock() + self.config.clock_offset_s

    def stats(self, *, arrivals: bool = True) -> dict[str, Any]:
        """Counters as JSON-ready data (what `GET /_emulator/stats` returns)."""
        result: dict[str, Any] = {
            "status_counts": {str(status): n for status, n in self.status_counts.items()},
            "apply_counts": dict(self.apply_counts),
            "fault_counts": dict(self.fault_counts),
            "request_counts": dict(self.request_counts),
            "token_issued": self.token_issued,
            "arrival_count": len(self.arrivals),
            "in_flight_peak": self.in_flight_peak,
        }
        if arrivals:
            result["arrivals"] = list(self.arrivals)
        return result

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware()])
        app.router.add_patch("/v2/cloudimages/{image_id}", self._patch_image)
        app.router.add_get("/v2/cloudimages", self._list_images)
        # the native Glance v2 image API, which IMS serves too (the SDK's GlanceUpdateImage)
        app.router.add_patch("/v2/images/{image_id}", self._glance_patch)
        app.router.add_get("/v2/images/{image_id}", self._glance_get)
        app.router.add_get("/v2/images", self._glance_list)
        app.router.add_post("/v3/auth/tokens", self._iam.create_token)
        app.router.add_get("/v3/projects", self._list_projects)
        app.router.add_get(_CONTROL_PREFIX + "state", self._control_state)
        app.router.add_get(_CONTROL_PREFIX + "stats", self._control_stats)
        return app

    def _middleware(self) -> Middleware:
        @web.middleware
        async def envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
            request_id = uuid.uuid4().hex
            request[_REQUEST_ID] = request_id
            counted = not request.path.startswith(_CONTROL_PREFIX)
            if counted:
                self._record_arrival(request)
                self.in_flight += 1
                self.in_flight_peak = max(self.in_flight_peak, self.in_flight)
            try:
                response = await self._answer(request, handler, request_id)
            finally:
                if counted:
                    self.in_flight -= 1
            if response is None:
                return web.Response(status=204)  # never delivered: the connection is closed
            response.headers["X-Request-Id"] = request_id
            response.headers["Date"] = formatdate(self.wall_time(), usegmt=True)
            if counted:
                self.status_counts[response.status] += 1
            return response

        return envelope

    def _record_arrival(self, request: web.Request) -> None:
        arrived_at = self._monotonic()
        request[_ARRIVED_AT] = arrived_at
        self.arrivals.append(arrived_at)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unknown"
        self.request_counts[f"{request.method} {route}"] += 1

    async def _answer(
        self, request: web.Request, handler: Handler, request_id: str
    ) -> web.StreamResponse | None:
        """The handler's response; None after closing the connection without one."""
        try:
            return await handler(request)
        except _NoAnswer as silence:
            self.fault_counts[silence.kind] += 1
            if request.transport is not None:
                request.transport.close()
            return None
        except web.HTTPException as exc:
            message = "The API does not exist or has not been published in the environment"
            return apig_error(exc.status, "APIG.0101", message, request_id=request_id)

    async def _gateway(self, request: web.Request, body: bytes) -> web.Response | None:
        """What the API gateway answers instead of IMS, if anything (see module doc)."""
        admitted = self._bucket is None or self._bucket.take(request[_ARRIVED_AT])
        delay = self._latency.draw()
        if delay > 0:
            await self._sleep(delay)
        request_id = request[_REQUEST_ID]
        if not admitted:
            self.fault_counts["rate_limited"] += 1
            return self._throttled(request_id)
        principal = self._auth.authenticate(request, body, request_id=request_id)
        if isinstance(principal, web.Response):
            return principal
        refused = self._auth.check_project(request, principal)
        if refused is not None:
            return refused
        fault, status = self._dice.before_processing()
        if fault is Fault.RESET:
            raise _NoAnswer("reset")
        if fault is not Fault.NONE:
            self.fault_counts[fault.value] += 1
        if fault is Fault.FAIL:
            return server_error(status, request_id=request_id)
        if fault is Fault.IMS_THROTTLE:
            return ims_error(400, *IMS_THROTTLED)
        return None

    def _throttled(self, request_id: str) -> web.Response:
        limit = self.config.rate_limit or 0.0
        message = (
            "The request is throttled. The throttling threshold has been reached: "
            f"policy user over ratelimit,limit:{limit:g},time:1 second"
        )
        response = apig_error(429, "APIG.0308", message, request_id=request_id)
        if self.config.retry_after_s is not None:
            response.headers["Retry-After"] = f"{self.config.retry_after_s:g}"
        return response

    async def _patch_image(self, request: web.Request) -> web.Response:
        body = await request.read()
        answered = await self._gateway(request, body)
        if answered is not None:
            return answered
        if request.content_type != "application/json":
            return ims_error(400, "IMG.0001", "Content-Type must be application/json.")
        if not body:
            return ims_error(400, "IMG.0007", "The request body is empty.")
        image_id = request.match_info["image_id"]
        try:
            ops = parse_ops(json.loads(body))
            image = self.images.get(image_id)
            if image is None:
                return ims_error(404, *NOT_FOUND_IMAGE)
            if image.get("status") != "active":
                return ims_error(400, *NOT_ACTIVE)
            patched = apply_ops(image, ops, updated_at=utc_timestamp(self.wall_time()))
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            return ims_error(400, "IMG.0001", "The request message format is invalid.")
        except PatchError as refused:
            return ims_error(refused.status, refused.code, refused.message)
        self.images[image_id] = patched
        self.apply_counts[image_id] += 1
        if self._dice.drop_after_apply():
            raise _NoAnswer("drop_after_apply")
        return json_response(patched)

    async def _glance_patch(self, request: web.Request) -> web.Response:
        body = await request.read()
        answered = await self._gateway(request, body)
        if answered is not None:
            return answered
        if request.content_type != GLANCE_PATCH_TYPE:
            message = f"Image PATCH expects Content-Type {GLANCE_PATCH_TYPE}"
            return glance_error(415, "Unsupported Media Type", message)
        image_id = request.match_info["image_id"]
        image = self.images.get(image_id)
        if image is None:
            return glance_error(404, "Not Found", f"No image found with ID {image_id}")
        try:
            ops = parse_ops(json.loads(body), typed=True)
            patched = apply_ops(image, ops, updated_at=utc_timestamp(self.wall_time()))
        except (ValueError, RecursionError):
            return glance_error(400, "Bad Request", "The request body is not valid JSON Patch.")
        except PatchError as refused:
            return glance_error(refused.status, _TITLES.get(refused.status, ""), refused.message)
        self.images[image_id] = patched
        self.apply_counts[image_id] += 1
        if self._dice.drop_after_apply():
            raise _NoAnswer("drop_after_apply")
        return json_response(patched)

    async def _glance_get(self, request: web.Request) -> web.Response:
        answered = await self._gateway(request, await request.read())
        if answered is not None:
            return answered
        image_id = request.match_info["image_id"]
        image = self.images.get(image_id)
        if image is None:
            return glance_error(404, "Not Found", f"No image found with ID {image_id}")
        return json_response(image)

    async def _list_images(self, request: web.Request) -> web.Response:
        answered = await self._gateway(request, await request.read())
        if answered is not None:
            return answered
        image_id = request.query.get("id")
        if image_id is not None:
            image = self.images.get(image_id)
            images = [image] if image is not None else []
        else:
            try:
                images = self._listed(request, glance=False).images
            except ListError as refused:
                return ims_error(400, "IMG.0001", str(refused))
        if self._dice.drop_after_apply():
            raise _NoAnswer("drop_after_apply")
        return json_response({"images": images})

    async def _glance_list(self, request: web.Request) -> web.Response:
        answered = await self._gateway(request, await request.read())
        if answered is not None:
            return answered
        try:
            listed = self._listed(request, glance=True)
        except ListError as refused:
            return glance_error(400, "Bad Request", str(refused))
        answer: dict[str, Any] = {
            "images": listed.images,
            "first": "/v2/images",
            "schema": "/v2/schemas/images",
        }
        if listed.next_link is not None:
            answer["next"] = listed.next_link
        return json_response(answer)

    def _listed(self, request: web.Request, *, glance: bool) -> Listed:
        return list_page(
            self.images, self._order, request.query, glance=glance, page_cap=self.config.page_cap
        )

    async def _list_projects(self, request: web.Request) -> web.Response:
        return await self._iam.list_projects(request, request_id=request[_REQUEST_ID])

    async def _control_state(self, request: web.Request) -> web.Response:
        """Every image, or one (`?id=`); with authentication on, only for a caller who
        authenticates as for IMS (a signed request or a valid X-Auth-Token)."""
        principal = self._auth.authenticate(
            request, await request.read(), request_id=request[_REQUEST_ID]
        )
        if isinstance(principal, web.Response):
            return principal
        image_id = request.query.get("id")
        if image_id is None:
            return json_response({"images": self.images})
        image = self.images.get(image_id)
        return json_response({"images": {} if image is None else {image_id: image}})

    async def _control_stats(self, request: web.Request) -> web.Response:
        return json_response(self.stats(arrivals=request.query.get("arrivals") != "false"))


def _initial_images(config: EmulatorConfig) -> dict[str, Image]:
    owner = config.project_id or ""
    images = generate_images(config.images, owner=owner)
    if config.seed is not None:
        images.update(load_seed(config.seed, owner=owner))
    return images


def _bucket(config: EmulatorConfig, *, now: float) -> TokenBucket | None:
    if config.rate_limit is None:
        return None
    burst = config.rate_burst if config.rate_burst is not None else max(1.0, config.rate_limit)
    return TokenBucket(config.rate_limit, burst, now=now)
