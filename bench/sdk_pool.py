"""Today's alternative: the official huaweicloudsdkims client in a thread pool.

`python -m bench.sdk_pool MANIFEST --endpoint URL [--threads 32] [--limit N]` calls
`ImsClient.update_image` once per image (of the first N) from a ThreadPoolExecutor, the
way users script bulk updates today, and prints one JSON line (successes, failures,
send time). The SDK signs with its own signer; the emulator verifies it.

One client is shared by the threads (its requests.Session is). The connection pool is
raised to the thread count (the default of 10 would make 22 threads open a new
connection per request): the SDK's best case, so the comparison flatters it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.manifests import Ops, read_tasks


def _client(endpoint: str, *, threads: int) -> Any:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials  # type: ignore[import-untyped]
    from huaweicloudsdkcore.http.http_config import HttpConfig  # type: ignore[import-untyped]
    from huaweicloudsdkims.v2 import ImsClient  # type: ignore[import-untyped]

    credentials = BasicCredentials(
        os.environ["HUAWEICLOUD_SDK_AK"],
        os.environ["HUAWEICLOUD_SDK_SK"],
        os.environ["HUAWEICLOUD_SDK_PROJECT_ID"],
    )
    config = HttpConfig.get_default_config()
    config.pool_connections = threads
    config.pool_maxsize = threads
    # An endpoint that starts with "http" is kept as given; no region: no IAM look-up.
    return (
        ImsClient.new_builder()
        .with_http_config(config)
        .with_credentials(credentials)
        .with_endpoints([endpoint])
        .build()
    )


def _update(client: Any, image_id: str, ops: Ops) -> bool:
    from huaweicloudsdkims.v2 import UpdateImageRequest, UpdateImageRequestBody

    body = [UpdateImageRequestBody(op=o["op"], path=o["path"], value=o["value"]) for o in ops]
    try:
        client.update_image(UpdateImageRequest(image_id=image_id, body=body))
    except Exception:  # the SDK raises its own exception types for any non-2xx answer
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sdk_pool")
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="Send only the first N images.")
    args = parser.parse_args(argv)
    work = read_tasks(args.manifest)[: args.limit]
    client = _client(args.endpoint, threads=args.threads)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        results = list(pool.map(lambda item: _update(client, *item), work))
    elapsed = time.perf_counter() - started
    succeeded = sum(results)
    summary = {"sent": len(work), "succeeded": succeeded, "send_s": elapsed}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0 if succeeded == len(work) else 1


if __name__ == "__main__":
    sys.exit(main())
