"""An aiohttp server that behaves like Huawei Cloud IMS (image PATCH/GET) and IAM for batch-ims.

Used by the tests, the demo and the benchmark; see `EmulatorConfig` for every knob.
"""

from batch_ims.emulator.app import Emulator
from batch_ims.emulator.command import emulator_command
from batch_ims.emulator.config import EmulatorConfig
from batch_ims.emulator.iam import DEFAULT_PROJECT_ID
from batch_ims.emulator.images import (
    MODIFIABLE_ATTRIBUTES,
    READ_ONLY_ATTRIBUTES,
    generated_image_id,
)
from batch_ims.emulator.server import RunningEmulator, start_emulator

__all__ = [
    "DEFAULT_PROJECT_ID",
    "MODIFIABLE_ATTRIBUTES",
    "READ_ONLY_ATTRIBUTES",
    "Emulator",
    "EmulatorConfig",
    "RunningEmulator",
    "emulator_command",
    "generated_image_id",
    "start_emulator",
]
