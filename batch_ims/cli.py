"""The command line: parse options, build one settings object, call the core, map the exit code.

Heavy imports (aiohttp, pandas) happen inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import click

from batch_ims import __version__
from batch_ims.context import stdout_gone
from batch_ims.errors import BatchImsError, LockedError, OutputWriteError, UnreachableError
from batch_ims.exitcodes import ExitCode
from batch_ims.settings import (
    AUTO_CONCURRENCY_CEILING,
    EXPORT_PAGE_SIZE,
    HIDDEN_ROW_CHOICES,
    default,
)

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: ExitCode) -> None:
    """One line on stderr: a JSON event when logs are JSON, plain text otherwise."""
    from batch_ims import logsetup

    message = logsetup.redact_text(message)
    if logsetup.configured_format() == "json":
        import structlog

        structlog.get_logger("batch_ims").error("run.error", error=message, exit_code=int(code))
    else:
        from batch_ims.console import shown

        click.echo(f"batch-ims: error: {shown(message)}", err=True)
    sys.exit(int(code))


def _internal(exc: Exception) -> None:
    _fail(f"internal error ({type(exc).__name__}: {exc}); please report it", ExitCode.INTERNAL)


class _Terminated(BaseException):
    """SIGTERM arrived before the run installed its own handlers."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def guarded(func: Callable[[], int], *, result_on_stdout: bool = True) -> int:
    """Run a command body; the tool's own errors become one line and an exit code.

    A reader of stdout gone (`plan ... | head`) ends the command quietly, as Unix tools
    do: exit 141 (128 + SIGPIPE, what a shell shows for `yes | head`) when stdout is the
    command's result, or, for `run` (`result_on_stdout=False`: its summary is the last
    thing it prints, the report and journal are its record), the run's own exit code.
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = func()
    except BrokenPipeError as exc:
        if not stdout_gone(sys.stdout):
            _internal(exc)
        return int(ExitCode.BROKEN_PIPE)
    except LockedError as exc:
        _fail(str(exc), ExitCode.LOCKED)
    except OutputWriteError as exc:
        _fail(str(exc), ExitCode.OUTPUT_FAILED)
    except UnreachableError as exc:
        _fail(str(exc), ExitCode.UNREACHABLE)
    except BatchImsError as exc:
        _fail(str(exc), ExitCode.USAGE)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.SIGINT)
    except _Terminated:
        _fail("terminated", ExitCode.SIGTERM)
    except Exception as exc:  # a bug: one line, never a traceback shown to the user
        _internal(exc)
    else:
        if stdout_gone(sys.stdout) and result_on_stdout:
            return int(ExitCode.BROKEN_PIPE)
        return code
    return int(ExitCode.USAGE)


_SHEET = click.option(
    "--sheet", help="Sheet of an .xlsx manifest (default: the first visible one)."
)
_ENCODING = click.option("--encoding", help="Manifest text encoding (default: detected).")
_STRICT = click.option(
    "--strict",
    is_flag=True,
    default=None,
    help="Rows naming an attribute one edit away from a known one are invalid, not a warning.",
)
_ENDPOINT = click.option(
    "--endpoint",
    help="Image API base URL, e.g. https://ims.cn-north-4.myhuaweicloud.com; may hold "
    "{region} (a template).",
)
_REGION = click.option(
    "--region", help="Region name, e.g. cn-north-4 or eu-de (gives the endpoints)."
)
_HIDDEN_ROWS = click.option(
    "--hidden-rows",
    type=click.Choice(HIDDEN_ROW_CHOICES),
    help="Rows hidden in an .xlsx sheet (an Excel filter, or hidden by hand): skip them "
    "(reported as skipped) or include them.  [default: none: a run refuses them]",
)
_PROVIDER = click.option(
    "--provider",
    help="Cloud on Huawei's stack: huaweicloud, huaweicloud-eu, otc, flexibleengine, cloudru "
    "or stack.  [default: from the region, else huaweicloud]",
)
_PROFILE = click.option(
    "--profile", help="Profile in the credentials file (~/.huaweicloud/credentials)."
)
_CLOUD = click.option(
    "--cloud",
    help="OpenStack: a cloud of clouds.yaml, or 'envvars' for OS_* variables (Glance v2 via "
    "Keystone; default: OS_CLOUD when no --endpoint/--region/--profile is given).",
)
_CONCURRENCY = click.option(
    "--concurrency",
    type=int,
    help="Most requests in flight.  [default: what --rate needs at the measured latency, "
    f"up to {AUTO_CONCURRENCY_CEILING}]",
)
_RATE = click.option(
    "--rate",
    type=float,
    help="Ceiling on requests per second, reads and retries included.  "
    f"[default: {default('rate'):g}]",
)
_LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    help="Logs on stderr.  [default: auto: console on a terminal, else JSON]",
)

_RUN_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--job",
        "job",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML job file whose keys are these options (the command line wins).",
    ),
    _SHEET,
    _ENCODING,
    _STRICT,
    _HIDDEN_ROWS,
    _ENDPOINT,
    _REGION,
    _PROVIDER,
    _PROFILE,
    _CLOUD,
    _CONCURRENCY,
    _RATE,
    click.option(
        "--max-attempts",
        type=int,
        help=f"Attempts per request.  [default: {default('max_attempts')}]",
    ),
    click.option(
        "--timeout", type=float, help=f"Seconds per attempt.  [default: {default('timeout'):g}]"
    ),
    click.option(
        "--report",
        type=click.Path(dir_okay=False),
        help="Report path: .csv, .jsonl or .xlsx; strftime fields allowed (UTC).",
    ),
    click.option(
        "--journal",
        type=click.Path(dir_okay=False),
        help="Journal path (default: beside the report); strftime fields allowed.",
    ),
    click.option(
        "--resume",
        is_flag=True,
        default=None,
        help="Skip images the journal shows succeeded with the same ops.",
    ),
    click.option(
        "--max-failure-rate",
        type=float,
        help=f"Stop when failed/finished exceeds this.  [default: {default('max_failure_rate')}]",
    ),
    click.option(
        "--min-finished",
        type=int,
        help="Images finished before the failure rate applies.  "
        f"[default: {default('min_finished')}]",
    ),
    click.option(
        "--grace",
        type=float,
        help=f"Seconds in-flight requests get after a signal.  [default: {default('grace'):g}]",
    ),
    click.option(
        "--auth-failure-limit",
        type=int,
        help="Consecutive auth failures that stop the run (exit 3).  "
        f"[default: {default('auth_failure_limit')}]",
    ),
    click.option(
        "--unreachable-limit",
        type=int,
        help="Consecutive requests that cannot connect before the run stops (exit 4).  "
        f"[default: {default('unreachable_limit')}]",
    ),
    click.option(
        "--dry-run", is_flag=True, default=None, help="Validate and report; send nothing."
    ),
    click.option(
        "--plan",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Apply exactly this reviewed plan (from plan --diff --out): refused when the "
        "manifest or target differs; images changed since are reported drifted, not sent.",
    ),
    click.option(
        "--ignore-drift",
        is_flag=True,
        default=None,
        help="With --plan: send images whose values changed since the plan was made.",
    ),
    click.option(
        "--yes",
        "-y",
        is_flag=True,
        default=None,
        help="Do not ask before sending (a terminal asks once; cron and schedulers never).",
    ),
    click.option(
        "--skip-unchanged",
        is_flag=True,
        default=None,
        help="Read each image first; drop ops whose value already holds.",
    ),
    click.option(
        "--undo-manifest",
        type=click.Path(dir_okay=False),
        help="Write a manifest that puts back the old values of patched images.",
    ),
    click.option(
        "--verify",
        is_flag=True,
        default=None,
        help="Check each answer against the intended values.",
    ),
    click.option(
        "--progress-interval",
        type=float,
        help="Seconds between progress events off a terminal.  "
        f"[default: {default('progress_interval'):g}]",
    ),
    click.option(
        "--summary-json",
        type=click.Path(dir_okay=False),
        help="Write the run's summary as JSON here.",
    ),
    click.option(
        "--retry-failed-from",
        type=click.Path(dir_okay=False),
        help="Send only images failed or aborted in this earlier report.",
    ),
    click.option("--shard", help="K/N: run only shard K (0-based) of N, by a stable hash."),
    _LOG_FORMAT,
    click.option(
        "--ca-bundle",
        type=click.Path(dir_okay=False),
        help="PEM file of CA certificates for a private CA.",
    ),
    click.option(
        "--insecure",
        is_flag=True,
        default=None,
        help="Do not verify TLS certificates, and accept a plain-http sign-in URL to a "
        "non-loopback host (loud warning; never in production).",
    ),
    click.option(
        "-v", "--verbose", is_flag=True, default=None, help="Log every image on a terminal too."
    ),
    click.option(
        "--metrics-file",
        type=click.Path(dir_okay=False),
        help="Write Prometheus metrics here at the end of every run (a node_exporter *.prom file).",
    ),
    click.option(
        "--pushgateway",
        help="Push the same metrics to this Prometheus Pushgateway URL (a failure only warns).",
    ),
    click.option(
        "--pushgateway-allow-http",
        is_flag=True,
        default=None,
        help="Allow a plain http --pushgateway on another host (a cluster-internal service); "
        "only metrics go there.",
    ),
    click.option(
        "--metrics-job",
        help="The metrics' `job` label (default: the job file's name, else batch_ims).",
    ),
    click.option(
        "--overwrite",
        is_flag=True,
        default=None,
        help="Replace outputs an earlier run left at these paths (refused otherwise).",
    ),
]


def run_options(func: F) -> F:
    for option in reversed(_RUN_OPTIONS):
        func = option(func)
    return func


class _LazyGroup(click.Group):
    """Subcommands imported only when used, so start-up stays fast: listing them (`--help`)
    shows the short help kept here and imports nothing (a test checks both texts agree)."""

    _lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "emulator": (
            "batch_ims.emulator.command:emulator_command",
            "Serve an IMS + IAM emulator for tests and demos until SIGINT/SIGTERM.",
        ),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self._lazy.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        import importlib

        module_name, factory = lazy[0].split(":")
        command: click.Command = getattr(importlib.import_module(module_name), factory)()
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with the lazy commands' short help taken from `_lazy`."""
        helps: list[tuple[str, Callable[[int], str]]] = []
        for name in self.list_commands(ctx):
            lazy = self._lazy.get(name)
            if lazy is not None:
                helps.append((name, click.Command(name, help=lazy[1]).get_short_help_str))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                helps.append((name, command.get_short_help_str))
        if helps:
            limit = formatter.width - 6 - max(len(name) for name, _ in helps)
            with formatter.section("Commands"):
                formatter.write_dl([(name, short_help(limit)) for name, short_help in helps])

    def lazy_help(self, name: str) -> str:
        """The short help `--help` lists for a lazy command."""
        return self._lazy[name][1]


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="batch-ims")
def cli() -> None:
    """Bulk-update Huawei Cloud IMS (or OpenStack Glance) image properties from a CSV or Excel
    manifest."""


def _settings_values(
    manifest: str | None, job: Path | None, options: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    from batch_ims.jobfile import load_job

    values: dict[str, Any] = load_job(job, now=now) if job is not None else {}
    if manifest is not None:
        values["manifest"] = manifest
    values.update({k: v for k, v in options.items() if v is not None})
    if job is not None:
        values.setdefault("metrics_job", job.stem)
    return values


@cli.command()
@click.argument("manifest", required=False)
@run_options
def run(manifest: str | None, job: Path | None, **options: Any) -> None:
    """Send one PATCH per image of MANIFEST and write a report.

    Exit codes: 0 all succeeded or skipped; 1 some failed or invalid; 2 usage
    error or unreadable manifest (nothing sent); 3 aborted (failure threshold,
    authentication); 4 endpoint unreachable; 70 internal error; 74 an output could
    not be written; 75 journal or output locked by another run; 130 SIGINT; 143 SIGTERM.
    """

    def body() -> int:
        from batch_ims import logsetup
        from batch_ims.context import invocation, process_environment
        from batch_ims.run.pipeline import run as run_pipeline
        from batch_ims.settings import build_settings

        logsetup.configure(log_format=options.get("log_format") or "auto")
        now = datetime.now(UTC)
        settings = build_settings(_settings_values(manifest, job, options, now=now), now=now)
        logsetup.configure(log_format=settings.log_format, verbose=settings.verbose)
        argv = (*invocation(sys.argv[0]), *sys.argv[1:])
        environment = process_environment(dict(os.environ), argv, confirm=_ask)
        return int(run_pipeline(settings, environment))

    sys.exit(guarded(body, result_on_stdout=False))


def _ask(question: str) -> bool:
    return click.confirm(question, default=False, err=True)


@cli.command("validate-job")
@click.argument("job_file", type=click.Path(dir_okay=False, path_type=Path))
def validate_job(job_file: Path) -> None:
    """Check a job file and its manifest; send nothing.

    Exit codes: 0 valid, 1 some rows invalid, 2 unusable job file or manifest, 141 stdout's
    reader went away (`| head`).
    """

    def body() -> int:
        from batch_ims import logsetup
        from batch_ims.clouds import choose_cloud, scoped_cloud
        from batch_ims.console import shown
        from batch_ims.manifest import load_manifest_targets
        from batch_ims.output.paths import output_paths
        from batch_ims.run.hidden import check_hidden
        from batch_ims.run.prepare import check_offline
        from batch_ims.settings import build_settings

        logsetup.configure(log_format="auto")
        now = datetime.now(UTC)
        settings = build_settings(_settings_values(None, job_file, {}, now=now), now=now)
        check_offline(settings, output_paths(settings, now))  # the checks `run` makes first
        cloud = choose_cloud(settings, dict(os.environ))
        parts = load_manifest_targets(
            settings.manifest,
            sheet=settings.sheet,
            encoding=settings.encoding,
            strict=settings.strict,
            rules=cloud.rules,
            target_columns=cloud.target_columns,
            hidden_rows=settings.hidden_rows,
        )
        manifests = [manifest for _, manifest in parts]
        hidden = check_hidden(str(settings.manifest), manifests, settings.hidden_rows)
        for cells, _ in parts:
            scoped_cloud(cloud, cells, settings.manifest)
        invalid = [item for manifest in manifests for item in manifest.invalid]
        click.echo(
            shown(
                f"{job_file}: ok: manifest {settings.manifest}: "
                f"{sum(m.row_count for m in manifests)} rows, "
                f"{sum(m.image_count for m in manifests)} valid images, {len(invalid)} invalid"
                + (f", {len(parts)} targets" if len(parts) > 1 else "")
            )
        )
        for item in invalid:
            for error in item.errors:
                click.echo(f"  invalid: {shown(error.describe())}")
        for manifest in manifests:
            for warning in manifest.warnings:
                click.echo(f"  warning: {shown(warning.describe())}")
        if hidden:
            click.echo(f"  hidden ({settings.hidden_rows}): {hidden}")
        return int(ExitCode.SOME_FAILED if invalid else ExitCode.OK)

    sys.exit(guarded(body))


@cli.command()
@click.argument("manifest")
@_SHEET
@_ENCODING
@_STRICT
@_HIDDEN_ROWS
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the invalid rows here, in the report format.",
)
@click.option(
    "--diff", is_flag=True, help="Read each image's current values; show before -> after."
)
@click.option(
    "--explain",
    is_flag=True,
    help="Print the cloud, image endpoint, sign-in endpoint and auth mode a run would use; "
    "send nothing.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --diff: write the reviewed plan here (JSON) for run --plan.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    default=None,
    help="Replace an existing --report or --out file (refused otherwise).",
)
@_ENDPOINT
@_REGION
@_PROVIDER
@_PROFILE
@_CLOUD
@_CONCURRENCY
@_RATE
@_LOG_FORMAT
def plan(
    manifest: str,
    sheet: str | None,
    encoding: str | None,
    strict: bool | None,
    hidden_rows: str | None,
    report: Path | None,
    diff: bool,
    explain: bool,
    out: Path | None,
    overwrite: bool | None,
    log_format: str | None,
    **target: Any,
) -> None:
    """Validate MANIFEST and print what a run would do; send nothing (no credentials needed).

    Exit codes: 0 every row valid, 1 some rows invalid (or, with --diff, some image
    unreadable), 2 the manifest cannot be read, 141 stdout's reader went away (`| head`).
    """

    def body() -> int:
        from batch_ims import logsetup
        from batch_ims.clouds import choose_cloud
        from batch_ims.errors import UsageError
        from batch_ims.output.paths import check_command_outputs
        from batch_ims.preview import PlanRequest, run_plan
        from batch_ims.settings import build_settings

        logsetup.configure(log_format=log_format or "auto")
        values = {"manifest": manifest, "overwrite": overwrite, **target}
        settings = build_settings(values, now=datetime.now(UTC))
        if out is not None and not diff:
            raise UsageError("--out writes the plan that --diff shows: give --diff too")
        check_command_outputs(settings, {"--report": report, "--out": out})
        cloud = choose_cloud(settings, dict(os.environ))
        request = PlanRequest(
            sheet=sheet,
            encoding=encoding,
            strict=bool(strict),
            report=report,
            diff=diff,
            explain=explain,
            out=out,
            hidden_rows=hidden_rows,
        )
        return int(run_plan(settings, cloud, request, sys.stdout))

    sys.exit(guarded(body))


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the demo's report and undo manifest.",
)
def demo(out: Path) -> None:
    """Run the sample manifest through the real runner against an in-process emulator."""

    def body() -> int:
        from batch_ims.demo import run_demo

        return int(run_demo(out))

    sys.exit(guarded(body))


def _pairs(option: str, texts: tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` options as a mapping (the last of a repeated key wins)."""
    pairs: dict[str, str] = {}
    for text in texts:
        key, equals, value = text.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"{text!r}: expected KEY=VALUE", param_hint=option)
        pairs[key.strip()] = value
    return pairs


@cli.command(
    epilog="""\b
Examples:
  # every private CentOS 7 image named web-*, current values of every changeable attribute
  batch-ims export --region cn-north-4 --filter __imagetype=private \\
      --filter __os_type=Linux --where 'name~web-*' --where '__os_version~CentOS 7*' \\
      --out web.xlsx
  # three columns, with the status for context only (a run never sends #columns)
  batch-ims export --endpoint URL --columns name,__description,#status --out images.csv
  # a ready manifest: KVM on, a tag attribute gone, for the images that lack a description
  batch-ims export --endpoint URL --where '!__description' --set __support_kvm=true \\
      --unset legacy_tag --out kvm.csv
  # OpenStack Glance: active public images
  batch-ims export --cloud mycloud --filter visibility=public --filter status=active \\
      --out glance.tsv
"""
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manifest to write: .csv, .tsv or .xlsx (refused if it exists, unless --overwrite).",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="A filter the server applies (repeatable): one the image list documents, e.g. "
    "__imagetype=private, status=active, name=web-01, __os_type=Linux.",
)
@click.option(
    "--where",
    multiple=True,
    metavar="EXPR",
    help="Keep only images where EXPR holds (repeatable, all must hold), on any property: "
    "KEY=VALUE, KEY!=VALUE, KEY~GLOB, KEY!~GLOB, KEY (present), !KEY (missing).",
)
@click.option(
    "--columns",
    metavar="A,B,#C",
    help="Attributes to write, comma-separated; #NAME writes any property for context "
    "only (a run ignores it).  [default: every changeable attribute the images have]",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="ATTR=VALUE",
    help="Write VALUE for ATTR in every row (repeatable).",
)
@click.option(
    "--unset",
    "unsets",
    multiple=True,
    metavar="ATTR",
    help="Write <remove> for ATTR in the rows of images that have it (repeatable).",
)
@click.option(
    "--page-size",
    type=click.IntRange(min=1),
    help=f"Images per list page (a server may give fewer).  [default: {EXPORT_PAGE_SIZE}]",
)
@click.option("--overwrite", is_flag=True, help="Replace the file at --out (an earlier export's).")
@_ENDPOINT
@_REGION
@_PROVIDER
@_PROFILE
@_CLOUD
@_RATE
@click.option(
    "--max-attempts", type=int, help=f"Attempts per request.  [default: {default('max_attempts')}]"
)
@click.option(
    "--timeout", type=float, help=f"Seconds per attempt.  [default: {default('timeout'):g}]"
)
@click.option("--ca-bundle", type=click.Path(dir_okay=False), help="PEM file of CA certificates.")
@click.option("--insecure", is_flag=True, default=None, help="Do not verify TLS certificates.")
@_LOG_FORMAT
def export(
    out: Path,
    filters: tuple[str, ...],
    where: tuple[str, ...],
    columns: str | None,
    sets: tuple[str, ...],
    unsets: tuple[str, ...],
    page_size: int | None,
    overwrite: bool,
    log_format: str | None,
    **options: Any,
) -> None:
    """List images and write their current values as an editable wide manifest.

    The file feeds `run` and `plan --diff` as it is: unedited, `run --skip-unchanged`
    sends nothing; edit cells (or give --set/--unset) and only those images change.

    Exit codes: 0 written; 1 the list could not be read to its end; 2 usage error;
    3 authentication refused; 4 endpoint unreachable; 74 the file could not be written;
    75 another run writes it. Nothing is written unless the whole list was read.
    """
    filter_pairs = _pairs("--filter", filters)

    def body() -> int:
        from batch_ims import logsetup
        from batch_ims.clouds import choose_cloud
        from batch_ims.export.columns import parse_choice
        from batch_ims.export.core import ExportFailed, ExportRequest, run_export
        from batch_ims.export.where import parse_where
        from batch_ims.settings import build_settings

        logsetup.configure(log_format=log_format or "auto")
        values = {"manifest": out, **options}
        settings = build_settings(values, now=datetime.now(UTC))
        cloud = choose_cloud(settings, dict(os.environ))
        rules = cloud.rules
        request = ExportRequest(
            out=out,
            filters=filter_pairs,
            where=parse_where(where),
            choice=parse_choice(columns, sets, unsets, rules, reserved=cloud.target_columns),
            rules=rules,
            page_size=page_size or EXPORT_PAGE_SIZE,
            overwrite=overwrite,
            reserved=cloud.target_columns,
        )
        try:
            return int(run_export(settings, cloud.target(), request, sys.stdout))
        except ExportFailed as exc:
            _fail(str(exc), exc.code)
            return int(exc.code)

    sys.exit(guarded(body))
