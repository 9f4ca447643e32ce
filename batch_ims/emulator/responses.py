"""Response bodies in the shapes the real services use.

- IMS: `{"error": {"code": "IMG.0027", "message": "..."}}`
- API gateway (APIG): `{"error_code": "APIG.0308", "error_msg": "...", "request_id": "..."}`
- IAM (Keystone): `{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}`
- a proxy's HTML page for 502, as seen when a load balancer answers instead of IMS.

Messages follow Huawei's published ones where there are any (APIG.0301 variants, IMS's
IMG.* table); the 5xx bodies are the emulator's stand-ins: IMS documents no code for an
internal error, so 500 uses `IMG.0500`; 503/504 use APIG's backend codes.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

NOT_FOUND_IMAGE = ("IMG.0027", "The image ID in the request does not exist.")
NOT_ACTIVE = ("IMG.0046", "The image is unavailable: only active images can be updated.")
PROJECT_MISMATCH = ("IMG.0030", "The project ID and token in the request are invalid.")
IMS_THROTTLED = (
    "IMG.0060",
    "The number of tasks exceeds the flow control limit. Please wait and try again.",
)
AUTH_PREFIX = "Incorrect IAM authentication information: "

_PROXY_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def json_response(payload: Any, *, status: int = 200) -> web.Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def ims_error(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status=status)


def apig_error(status: int, code: str, message: str, *, request_id: str) -> web.Response:
    payload = {"error_code": code, "error_msg": message, "request_id": request_id}
    return json_response(payload, status=status)


def apig_auth_failure(detail: str, *, request_id: str) -> web.Response:
    return apig_error(401, "APIG.0301", AUTH_PREFIX + detail, request_id=request_id)


def glance_error(status: int, title: str, message: str) -> web.Response:
    """Glance's JSON error document (what it answers to `Accept: application/json`)."""
    payload = {
        "message": message + "<br /><br />\n\n\n",
        "code": f"{status} {title}",
        "title": title,
    }
    return json_response(payload, status=status)


def keystone_error(status: int, title: str, message: str) -> web.Response:
    return json_response(
        {"error": {"code": status, "title": title, "message": message}}, status=status
    )


def server_error(status: int, *, request_id: str) -> web.Response:
    """One of the injected 5xx answers."""
    if status == 502:
        return web.Response(text=_PROXY_502, status=502, content_type="text/html")
    if status == 503:
        return apig_error(503, "APIG.0202", "Backend unavailable", request_id=request_id)
    if status == 504:
        return apig_error(504, "APIG.0201", "Backend timeout", request_id=request_id)
    return ims_error(500, "IMG.0500", "Internal server error. Please try again later.")
