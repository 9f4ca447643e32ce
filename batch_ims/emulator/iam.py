"""The two IAM calls the tool makes: password sign-in and project lookup by region name."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from batch_ims.emulator.auth import Authenticator
from batch_ims.emulator.config import EmulatorConfig
from batch_ims.emulator.responses import json_response, keystone_error

DEFAULT_PROJECT_ID = uuid.uuid5(uuid.NAMESPACE_OID, "batch-ims-emulator-project").hex


class _BadRequest(Exception):
    pass


class _NoAccess(Exception):
    pass


class IamService:
    def __init__(
        self, config: EmulatorConfig, authenticator: Authenticator, *, clock: Callable[[], float]
    ) -> None:
        self._config = config
        self._auth = authenticator
        self._clock = clock
        self._passwords = {(domain, user): password for domain, user, password in config.iam_users}
        self.tokens_issued = 0

    def project_for_name(self, name: str) -> str | None:
        """The project id IAM knows `name` (a region) by; any name when none is configured."""
        if self._config.project_name not in (None, name):
            return None
        return self._config.project_id or DEFAULT_PROJECT_ID

    async def create_token(self, request: web.Request) -> web.Response:
        """POST /v3/auth/tokens with Keystone v3 password auth: 201 and X-Subject-Token."""
        try:
            domain, user, password, scope = _password_auth(await request.read())
        except _BadRequest as exc:
            return keystone_error(400, "Bad Request", str(exc))
        known = self._passwords.get((domain, user))
        if known is None or not secrets.compare_digest(known.encode(), password.encode()):
            return keystone_error(401, "Unauthorized", "The username or password is wrong.")
        try:
            project = self._scope_project(scope)
        except _NoAccess:
            return keystone_error(401, "Unauthorized", "The user has no access to the project.")
        token, expires_at = self._auth.issue_token(project)
        self.tokens_issued += 1
        body = _token_body(domain, user, project, issued=self._clock(), expires=expires_at)
        body["token"]["catalog"] = _catalog(str(request.url.origin()), project)
        response = json_response(body, status=201)
        response.headers["X-Subject-Token"] = token
        return response

    async def list_projects(self, request: web.Request, *, request_id: str) -> web.Response:
        """GET /v3/projects?name=REGION (authenticated like any other call)."""
        principal = self._auth.authenticate(request, b"", request_id=request_id)
        if isinstance(principal, web.Response):
            return principal
        name = request.query.get("name") or self._config.project_name or "default"
        project_id = self.project_for_name(name)
        projects: list[dict[str, Any]] = []
        if project_id is not None:
            projects.append({"id": project_id, "name": name, "enabled": True})
        return json_response({"projects": projects, "links": {"self": str(request.url)}})

    def _scope_project(self, scope: dict[str, Any]) -> str | None:
        """The scoped project's id, None when unscoped; raises `_NoAccess` for an unknown one."""
        if "id" in scope:
            configured = self._config.project_id
            if configured is not None and scope["id"] != configured:
                raise _NoAccess
            return str(scope["id"])
        if "name" in scope:
            found = self.project_for_name(str(scope["name"]))
            if found is None:
                raise _NoAccess
            return found
        return None


def _catalog(base: str, project: str | None) -> list[dict[str, Any]]:
    """This emulator as the catalog's `image` service (Glance v2 at the same address)."""
    region = project or "RegionOne"
    endpoints = [
        {
            "id": f"{interface}-image",
            "interface": interface,
            "region": region,
            "region_id": region,
            "url": base,
        }
        for interface in ("public", "internal")
    ]
    return [{"id": "image", "type": "image", "name": "glance", "endpoints": endpoints}]


def _password_auth(raw: bytes) -> tuple[str, str, str, dict[str, Any]]:
    """(domain, user, password, project scope) from a Keystone v3 password request."""
    try:
        auth = json.loads(raw)["auth"]
        identity = auth["identity"]
        if "password" not in identity["methods"]:
            raise _BadRequest("Only password authentication is supported.")
        user = identity["password"]["user"]
        scope = (auth.get("scope") or {}).get("project") or {}
        domain = user["domain"]["name"]
        values = (domain, user["name"], user["password"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise _BadRequest("The request you have made is invalid.") from exc
    if not all(isinstance(value, str) for value in values) or not isinstance(scope, dict):
        raise _BadRequest("The request you have made is invalid.")
    return values[0], values[1], values[2], scope


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _token_body(
    domain: str, user: str, project: str | None, *, issued: float, expires: float
) -> dict[str, Any]:
    domain_ref = {"name": domain, "id": uuid.uuid5(uuid.NAMESPACE_OID, domain).hex}
    token: dict[str, Any] = {
        "methods": ["password"],
        "issued_at": _iso(issued),
        "expires_at": _iso(expires),
        "user": {
            "name": user,
            "id": uuid.uuid5(uuid.NAMESPACE_OID, user).hex,
            "domain": domain_ref,
        },
        "roles": [],
        "catalog": [],
    }
    if project is not None:
        token["project"] = {"id": project, "name": project, "domain": domain_ref}
    return {"token": token}
