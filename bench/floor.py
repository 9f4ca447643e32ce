"""The floor: the leanest honest client -- one aiohttp session, N workers, inline signing.

`python -m bench.floor MANIFEST --endpoint URL [--concurrency N]` sends one signed PATCH
per image (the same requests batch-ims sends, verified by the emulator the same way):
each worker builds the body, signs, sends and reads the status, all inside the timed
region; no journal, no report, no log. It prints one JSON line: counts per HTTP status
and the send time. Credentials come from HUAWEICLOUD_SDK_AK / _SK / _PROJECT_ID.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import yarl

from bench.manifests import Ops, read_tasks

CONTENT_TYPE = "application/json;charset=UTF-8"
_SIGNED = "content-type;host;x-project-id;x-sdk-date"


def signed_headers(
    *, ak: str, sk: bytes, project_id: str, host: str, path: str, body: bytes, date: str
) -> dict[str, str]:
    """SDK-HMAC-SHA256 headers for a PATCH of `path` (plain characters only) on `host`."""
    canonical = (
        f"PATCH\n{path}/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n"
        f"x-project-id:{project_id}\nx-sdk-date:{date}\n\n{_SIGNED}\n"
        f"{hashlib.sha256(body).hexdigest()}"
    )
    to_sign = f"SDK-HMAC-SHA256\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(sk, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-Project-Id": project_id,
        "X-Sdk-Date": date,
        "Authorization": f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={_SIGNED}, "
        f"Signature={signature}",
    }


def body_of(ops: Ops) -> bytes:
    """The PATCH body: compact JSON, non-ASCII kept, as batch-ims sends it."""
    return json.dumps(ops, ensure_ascii=False, separators=(",", ":")).encode()


async def send_all(endpoint: str, work: list[tuple[str, Ops]], *, concurrency: int) -> Counter[int]:
    """Send every (image_id, ops) with `concurrency` workers; HTTP status counts."""
    ak, sk = os.environ["HUAWEICLOUD_SDK_AK"], os.environ["HUAWEICLOUD_SDK_SK"].encode()
    project_id = os.environ["HUAWEICLOUD_SDK_PROJECT_ID"]
    base = yarl.URL(endpoint)
    host = base.host_port_subcomponent or ""
    counts: Counter[int] = Counter()
    pending: Iterator[tuple[str, Ops]] = iter(work)

    async def worker(session: aiohttp.ClientSession) -> None:
        for image_id, ops in pending:
            body = body_of(ops)
            path = f"/v2/cloudimages/{image_id}"
            date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            headers = signed_headers(
                ak=ak, sk=sk, project_id=project_id, host=host, path=path, body=body, date=date
            )
            async with session.patch(base.with_path(path), data=body, headers=headers) as answer:
                await answer.read()
                counts[answer.status] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    work = read_tasks(args.manifest)
    started = time.perf_counter()
    counts = asyncio.run(send_all(args.endpoint, work, concurrency=args.concurrency))
    elapsed = time.perf_counter() - started
    summary = {"sent": sum(counts.values()), "status_counts": counts, "send_s": elapsed}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0 if counts.get(200, 0) == len(work) else 1


if __name__ == "__main__":
    sys.exit(main())
