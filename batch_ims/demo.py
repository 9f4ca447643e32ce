"""`batch-ims demo`: the sample manifest through the real runner, against an in-process emulator.

The emulator checks AK/SK signatures with a throw-away demo key pair that is handed to
the runner through its environment, exactly as real credentials are.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime
from importlib.resources import as_file
from pathlib import Path

from batch_ims.context import process_environment
from batch_ims.emulator.background import BackgroundEmulator
from batch_ims.emulator.config import EmulatorConfig
from batch_ims.exitcodes import ExitCode
from batch_ims.logsetup import configure
from batch_ims.run.pipeline import run as run_pipeline
from batch_ims.sample_data import DEMO_MANIFEST, SEED_IMAGES, sample
from batch_ims.settings import build_settings


def run_demo(out: Path) -> ExitCode:
    ak = "DEMO" + secrets.token_hex(8).upper()
    sk = secrets.token_hex(20)
    config = EmulatorConfig(seed=sample(SEED_IMAGES), keys=((ak, sk),))
    configure(log_format="auto")
    with as_file(sample(DEMO_MANIFEST)) as manifest, BackgroundEmulator(config) as emulator:
        env = dict(os.environ)
        for name in (
            "BATCH_IMS_AUTH_TOKEN",
            "BATCH_IMS_IAM_USER",
            "BATCH_IMS_IAM_PASSWORD",
            "BATCH_IMS_IAM_DOMAIN",
            "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        ):
            env.pop(name, None)
        env.update(
            HUAWEICLOUD_SDK_AK=ak,
            HUAWEICLOUD_SDK_SK=sk,
            HUAWEICLOUD_SDK_PROJECT_ID="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        )
        settings = build_settings(
            {
                "manifest": manifest,
                "endpoint": emulator.url,
                "report": out / "report.csv",
                "journal": out / "journal.jsonl",
                "undo_manifest": out / "undo.csv",
                "rate": 50.0,
                "min_finished": 1000,
                "overwrite": True,  # the demo's folder holds the last demo's files
            },
            now=datetime.now(UTC),
        )
        code = run_pipeline(settings, process_environment(env))
    sys.stdout.write(
        f"demo: manifest {manifest}\n"
        f"demo: exit code {int(code)} ({code.name}): the sample has an invalid row, a missing\n"
        f"      image and a non-active image on purpose, so 1 is the expected result.\n"
        f"demo: undo manifest (puts the changed images back): {settings.undo_manifest}\n"
    )
    return ExitCode.OK if code is ExitCode.SOME_FAILED else code
