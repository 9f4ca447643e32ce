"""`batch-ims emulator`: serve the emulator until SIGINT or SIGTERM.

Secrets may be given on the command line because this is a local test server; each also
has an environment variable (BATCH_IMS_EMULATOR_SK, ...), which keeps them out of `ps`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from collections.abc import Callable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import click

from batch_ims.emulator.config import LATENCY_DISTRIBUTIONS, EmulatorConfig
from batch_ims.emulator.server import start_emulator
from batch_ims.sample_data import SEED_IMAGES, sample

_SHARE = click.FloatRange(0.0, 1.0)
_F = TypeVar("_F", bound=Callable[..., Any])
_SHIPPED_SEED = "demo"
_SEED_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _seed(ctx: click.Context, param: click.Parameter, value: str | None) -> Traversable | None:
    """A JSON file of images, or `demo`: the images shipped with batch-ims."""
    if value is None:
        return None
    if value == _SHIPPED_SEED:
        return sample(SEED_IMAGES)
    path: Path = _SEED_FILE.convert(value, param, ctx)
    return path


def _share_option(name: str, what: str) -> Callable[[_F], _F]:
    return click.option(name, type=_SHARE, default=0.0, show_default=True, help=what)


def emulator_command() -> click.Command:
    """The click command; the CLI adds it to its group as `emulator`."""
    return _emulator


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0: any free port.")
@click.option("--images", type=click.IntRange(min=0), default=0, help="Generate N active images.")
@click.option(
    "--seed",
    metavar="FILE|demo",
    callback=_seed,
    help="Images from a JSON file; `demo`: the images the demo's and samples/ manifests "
    "refer to, shipped with batch-ims (./demo for a file named demo).",
)
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), help="Requests/s.")
@click.option("--rate-burst", type=click.FloatRange(min=1), help="Bucket size (default: 1 s).")
@_share_option("--fail-rate", "Share of 5xx answers (500/502/503/504).")
@_share_option("--reset-rate", "Share of connections closed before applying.")
@_share_option("--drop-after-apply-rate", "Share of successes whose answer is lost.")
@_share_option("--ims-throttle-rate", "Share of 400 IMG.0060 answers.")
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Delay before each IMS answer (its mean with --latency-dist exponential).",
)
@click.option(
    "--latency-dist",
    type=click.Choice(LATENCY_DISTRIBUTIONS),
    default="constant",
    show_default=True,
    help="constant, or exponential: most answers quick, a long tail of slow ones.",
)
@click.option("--fault-seed", type=int, default=0, show_default=True, help="Seed of fault draws.")
@click.option(
    "--ak", multiple=True, envvar="BATCH_IMS_EMULATOR_AK", show_envvar=True, help="Access key."
)
@click.option(
    "--sk", multiple=True, envvar="BATCH_IMS_EMULATOR_SK", show_envvar=True, help="Its secret key."
)
@click.option(
    "--security-token",
    multiple=True,
    envvar="BATCH_IMS_EMULATOR_SECURITY_TOKEN",
    show_envvar=True,
    help="Makes the n-th --ak a temporary key that must send (and sign) this token.",
)
@click.option(
    "--token",
    multiple=True,
    envvar="BATCH_IMS_EMULATOR_TOKEN",
    show_envvar=True,
    help="An X-Auth-Token that never expires.",
)
@click.option("--iam-user", multiple=True, metavar="DOMAIN/USER", help="IAM password user.")
@click.option("--iam-password", envvar="BATCH_IMS_EMULATOR_IAM_PASSWORD", show_envvar=True)
@click.option("--project-id", help="Required X-Project-Id (and IAM's project id).")
@click.option("--project-name", help="The region name IAM knows the project by.")
@click.option(
    "--token-ttl",
    type=click.FloatRange(min=0, min_open=True),
    default=86400.0,
    show_default=True,
    help="Lifetime of IAM tokens, seconds.",
)
@click.option("--retry-after", type=click.FloatRange(min=0), help="Retry-After sent with 429.")
@click.option("--clock-offset", type=float, default=0.0, help="Seconds added to the clock.")
@click.option(
    "--page-cap",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Most images one list page holds, whatever limit a client asks for.",
)
@click.option(
    "--i-know",
    "i_know",
    is_flag=True,
    help="Allow a --host other than loopback (the emulator is for tests: anyone who can "
    "reach it can change its images and read its state).",
)
def _emulator(**options: Any) -> None:
    """Serve an IMS + IAM emulator for tests and demos until SIGINT/SIGTERM.

    Prints "listening on http://HOST:PORT" once ready. Keys, tokens or IAM users turn
    authentication on. Test hooks: GET /_emulator/state and /_emulator/stats.
    """
    config = _config(options)
    _check_host(options["host"], i_know=options["i_know"], auth_on=config.auth_required)
    asyncio.run(_serve(config, host=options["host"], port=options["port"]))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _check_host(host: str, *, i_know: bool, auth_on: bool) -> None:
    """Loopback unless `--i-know`; even then a loud warning on stderr."""
    if _is_loopback(host):
        return
    if not i_know:
        raise click.UsageError(
            f"--host {host}: not a loopback address; the emulator is a test server that "
            "anyone who reaches it can use. Add --i-know to serve it there anyway."
        )
    click.echo(
        f"WARNING: serving the emulator on {host}, beyond this machine: anyone who can reach "
        "it can patch its images"
        + ("" if auth_on else " (and no keys are set: no authentication)"),
        err=True,
    )


def _config(options: dict[str, Any]) -> EmulatorConfig:
    keys = _pairs(options["ak"], options["sk"])
    tokens = options["security_token"]
    if len(tokens) > len(keys):
        raise click.UsageError("more --security-token than --ak")
    users = tuple(_iam_user(spec, options["iam_password"]) for spec in options["iam_user"])
    try:
        return EmulatorConfig(
            images=options["images"],
            seed=options["seed"],
            rate_limit=options["rate_limit"],
            rate_burst=options["rate_burst"],
            fail_rate=options["fail_rate"],
            reset_rate=options["reset_rate"],
            drop_after_apply_rate=options["drop_after_apply_rate"],
            ims_throttle_rate=options["ims_throttle_rate"],
            latency_ms=options["latency_ms"],
            latency_distribution=options["latency_dist"],
            fault_seed=options["fault_seed"],
            keys=keys,
            security_tokens=tuple(zip((ak for ak, _ in keys), tokens, strict=False)),
            tokens=tuple(options["token"]),
            iam_users=users,
            project_id=options["project_id"],
            project_name=options["project_name"],
            token_ttl_s=options["token_ttl"],
            retry_after_s=options["retry_after"],
            clock_offset_s=options["clock_offset"],
            page_cap=options["page_cap"],
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _pairs(aks: tuple[str, ...], sks: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if len(aks) != len(sks):
        raise click.UsageError("give one --sk (or BATCH_IMS_EMULATOR_SK) per --ak")
    return tuple(zip(aks, sks, strict=True))


def _iam_user(spec: str, password: str | None) -> tuple[str, str, str]:
    domain, slash, user = spec.partition("/")
    if not slash or not domain or not user:
        raise click.UsageError(f"--iam-user must be DOMAIN/USER, got {spec!r}")
    if not password:
        raise click.UsageError("--iam-user needs --iam-password or BATCH_IMS_EMULATOR_IAM_PASSWORD")
    return domain, user, password


async def _serve(config: EmulatorConfig, *, host: str, port: int) -> None:
    try:
        running = await start_emulator(config, host=host, port=port)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot start the emulator: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        click.echo(f"listening on {running.url}")
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await running.close()
