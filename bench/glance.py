"""Row 3c: the OpenStack mode (Glance v2, a Keystone token) against IMS mode (AK/SK).

Both run against one emulator in its own process: IMS mode PATCHes `/v2/cloudimages/{id}`
signed with AK/SK; OpenStack mode signs in once (`POST /v3/auth/tokens`, the emulator's
IAM, which names itself as the catalog's `image` service) and PATCHes `/v2/images/{id}`
with the token. Throughput is compared over the send phase (the summary's `duration_s`),
which leaves out the one-off import of openstacksdk's config loader (about 0.4 s).
"""

from __future__ import annotations

import os

import yaml

from bench.context import Bench
from bench.emulator_proc import (
    BENCH_IAM_PASSWORD,
    BENCH_IAM_USER,
    EmulatorProcess,
    EmulatorSpec,
)
from bench.manifests import manifest_path, write_manifest
from bench.measure import median
from bench.table import Row

_CONCURRENCY = 64
_TOLERANCE = 1.10  # "no worse", with room for a shared machine's noise


def _cloud_env(bench: Bench, url: str) -> dict[str, str]:
    domain, user = BENCH_IAM_USER
    cloud = {
        "auth_type": "password",
        "auth": {
            "auth_url": url + "/v3",
            "username": user,
            "password": BENCH_IAM_PASSWORD,
            "project_name": "bench",
            "user_domain_name": domain,
            "project_domain_name": domain,
        },
        "identity_api_version": 3,
    }
    clouds = bench.work / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {"bench": cloud}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "HUAWEICLOUD_SDK_"))}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    env["OS_CLIENT_SECURE_FILE"] = str(bench.work / "no-secure.yaml")
    return env


def glance_rows(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    manifest = write_manifest(
        manifest_path(bench.results, images=sizes.images), images=sizes.images
    )
    ims_send: list[float] = []
    glance_send: list[float] = []
    ims_wall: list[float] = []
    glance_wall: list[float] = []
    with EmulatorProcess(
        EmulatorSpec(images=sizes.images), log_path=bench.work / "emulator-glance.log"
    ) as emulator:
        cloud = ("bench", _cloud_env(bench, emulator.url))
        for repeat in range(sizes.repeats):
            for mode, send, wall in (
                ("ims", ims_send, ims_wall),
                ("glance", glance_send, glance_wall),
            ):
                result, summary = bench.run_batch_ims(
                    manifest,
                    emulator.url,
                    rate=1e6,
                    concurrency=_CONCURRENCY,
                    tag=f"{mode}-{repeat}",
                    cloud=cloud if mode == "glance" else None,
                )
                counts = summary.get("counts") or {}
                if counts.get("succeeded") != sizes.images:
                    raise RuntimeError(f"{mode} mode: {counts} (expected {sizes.images} succeeded)")
                send.append(float(summary["duration_s"]))
                wall.append(result.wall_s)
        served = emulator.stats(arrivals=False)["request_counts"]
    n = sizes.images
    ims_rate, glance_rate = n / median(ims_send), n / median(glance_send)
    ratio = median(glance_send) / median(ims_send)
    return [
        Row(
            row="3c OpenStack mode (Glance v2, Keystone token) vs IMS mode (AK/SK)",
            measured=f"{glance_rate:.0f} vs {ims_rate:.0f} images/s (send time {ratio:.2f}x)",
            target=f"no worse: <= {_TOLERANCE:.2f}x IMS send time",
            met=ratio <= _TOLERANCE,
            notes=f"median of {len(ims_send)} interleaved runs each, -c {_CONCURRENCY}; whole "
            f"process {median(glance_wall):.2f} s vs {median(ims_wall):.2f} s (openstacksdk "
            f"import included); emulator saw {served}",
            data={"ims_send_s": ims_send, "glance_send_s": glance_send},
        )
    ]
