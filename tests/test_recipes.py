"""The scheduler recipes in jobs/examples/ run command lines that `batch-ims run` accepts.

Kubernetes, cron and systemd cannot run here, so each recipe is parsed and the batch-ims
command line it runs is checked against the options `batch-ims run --help` lists: every
option exists, an option that takes a value has one, and at most one manifest is given.
(The Airflow recipe is run by a real Airflow: tests/airflow, `make test-airflow`.)
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from batch_ims.exitcodes import ExitCode

EXAMPLES = Path(__file__).resolve().parents[1] / "jobs" / "examples"
_HELP_OPTION = re.compile(r"^\s{2}(?:(-\w), )?(--[\w-]+)(?:[ /]([^\s].*?))?(?:\s{2,}|$)")
_SHELL_STOP = ("|", "&&", "||", ";", ">", "2>", "<")
# what a later try can cure: a network blip (at sign-in or at the image service), a lock,
# a signal; every other non-zero code needs a person
RETRIED = {ExitCode.UNREACHABLE, ExitCode.LOCKED, ExitCode.SIGINT, ExitCode.SIGTERM}
# `run`'s failures (141 is `plan`/`validate-job` piped into `head`: never a run's)
NOT_RETRIED = set(ExitCode) - {ExitCode.OK, ExitCode.BROKEN_PIPE} - RETRIED


@cache
def run_options() -> dict[str, bool]:
    """Option name -> takes a value, from `batch-ims run --help`."""
    shown = subprocess.run(
        [sys.executable, "-m", "batch_ims", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    options: dict[str, bool] = {}
    for line in shown.splitlines():
        match = _HELP_OPTION.match(line)
        if match:
            short, long, metavar = match.groups()
            takes_value = bool(metavar) and not metavar.startswith("-")
            options[long] = takes_value
            if short:
                options[short] = takes_value
    return options


def problems(args: list[str]) -> list[str]:
    """Why `batch-ims ARGS` would be refused by `run`'s option parser (empty: accepted)."""
    if not args or args[0] != "run":
        return [f"not a `batch-ims run` command: {args}"]
    known = run_options()
    found: list[str] = []
    positional: list[str] = []
    rest = iter(args[1:])
    for token in rest:
        if not token.startswith("-"):
            positional.append(token)
            continue
        name, equals, _ = token.partition("=")
        if name not in known:
            found.append(f"unknown option {name} (not in `batch-ims run --help`)")
            continue
        if known[name] and not equals:
            value = next(rest, None)
            if value is None or value.startswith("--"):
                found.append(f"{name} needs a value")
    if len(positional) > 1:
        found.append(f"more than one manifest: {positional}")
    return found


def _batch_ims_args(tokens: list[str]) -> list[str]:
    """The arguments after the batch-ims executable, up to a shell redirection or operator."""
    start = next(
        i
        for i, token in enumerate(tokens)
        if Path(token).name == "batch-ims" and tokens[i - 1 : i] != ["cd"]
    )
    args: list[str] = []
    for token in tokens[start + 1 :]:
        if token.startswith(_SHELL_STOP):
            break
        args.append(token)
    return args


def crontab_commands() -> list[list[str]]:
    lines = (EXAMPLES / "crontab").read_text(encoding="utf-8").splitlines()
    entries = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [_batch_ims_args(shlex.split(entry.split(None, 5)[5])) for entry in entries]


def systemd_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values (a key may repeat); backslash continues a line."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, equals, value = line.partition("=")
        assert equals, f"{path.name}: not KEY=VALUE: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def systemd_commands() -> list[list[str]]:
    service = systemd_unit(EXAMPLES / "batch-ims-nightly.service")
    return [
        _batch_ims_args(shlex.split(start.lstrip("-@:+!")))
        for start in service["Service"]["ExecStart"]
    ]


def _container(document: dict[str, Any]) -> dict[str, Any]:
    spec = document["spec"]
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    [container] = spec["template"]["spec"]["containers"]
    return container


def kubernetes_command(name: str) -> list[str]:
    document = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    container = _container(document)
    command, args = container.get("command", []), [str(a) for a in container["args"]]
    if command[:2] == ["/bin/sh", "-c"]:
        script = args[0].replace("${JOB_COMPLETION_INDEX}", "0")
        return _batch_ims_args(shlex.split(script))
    assert not command, f"{name}: the image's entrypoint is batch-ims, or /bin/sh -c"
    return args


RECIPES = {
    "crontab": crontab_commands,
    "systemd": systemd_commands,
    "k8s-cronjob": lambda: [kubernetes_command("k8s-cronjob.yaml")],
    "k8s-indexed-job": lambda: [kubernetes_command("k8s-indexed-job.yaml")],
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_runs_a_command_line_that_batch_ims_run_accepts(recipe: str) -> None:
    commands = RECIPES[recipe]()

    assert commands
    for args in commands:
        assert problems(args) == [], args


@pytest.mark.parametrize(
    ("recipe", "metrics_option"),
    [
        ("crontab", "--metrics-file"),
        ("systemd", "--metrics-file"),
        ("k8s-cronjob", "--pushgateway"),
        ("k8s-indexed-job", "--pushgateway"),
    ],
)
def test_recipe_reports_its_metrics_under_a_job_name(recipe: str, metrics_option: str) -> None:
    for args in RECIPES[recipe]():
        assert metrics_option in args
        assert "--metrics-job" in args


def test_node_exporter_textfiles_are_prom_files_in_its_collector_folder() -> None:
    for args in crontab_commands() + systemd_commands():
        path = Path(args[args.index("--metrics-file") + 1])
        assert path.parent == Path("/var/lib/node_exporter/textfile_collector")
        assert path.suffix == ".prom"


def test_systemd_timer_starts_the_service() -> None:
    timer = systemd_unit(EXAMPLES / "batch-ims-nightly.timer")

    assert timer["Timer"]["Unit"] == ["batch-ims-nightly.service"]
    assert timer["Timer"]["OnCalendar"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_indexed_job_gives_each_shard_its_own_files_and_a_share_of_the_rate() -> None:
    document = yaml.safe_load((EXAMPLES / "k8s-indexed-job.yaml").read_text(encoding="utf-8"))
    args = kubernetes_command("k8s-indexed-job.yaml")
    shards = document["spec"]["completions"]

    assert args[args.index("--shard") + 1] == f"0/{shards}"
    assert float(args[args.index("--rate") + 1]) * shards == 50
    for option in ("--report", "--journal", "--summary-json", "--undo-manifest"):
        assert "-0." in args[args.index(option) + 1], option


def test_the_checker_refuses_unknown_options_and_missing_values() -> None:
    assert problems(["run", "m.csv", "--rate", "5"]) == []
    assert problems(["run", "m.csv", "--no-such-option"]) == [
        "unknown option --no-such-option (not in `batch-ims run --help`)"
    ]
    assert problems(["run", "m.csv", "--rate", "--verify"]) == ["--rate needs a value"]
    assert problems(["run", "a.csv", "b.csv"]) == ["more than one manifest: ['a.csv', 'b.csv']"]
    assert problems(["run", "--verify", "--shard=0/2", "-v"]) == []


def _airflow_map(name: str) -> set[int]:
    """The keys of the literal dict `name` in the Airflow DAG (parsed: Airflow not needed)."""
    for node in ast.parse((EXAMPLES / "airflow_batch_ims.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name]:
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{name} not found in the Airflow DAG")


def test_airflow_dag_retries_exactly_the_exit_codes_a_later_try_can_cure() -> None:
    assert (_airflow_map("RETRY"), _airflow_map("NO_RETRY")) == (RETRIED, NOT_RETRIED)


def test_indexed_job_retries_exactly_the_exit_codes_a_later_try_can_cure() -> None:
    document = yaml.safe_load((EXAMPLES / "k8s-indexed-job.yaml").read_text(encoding="utf-8"))
    rules = document["spec"]["podFailurePolicy"]["rules"]
    codes = {rule["action"]: set(rule["onExitCodes"]["values"]) for rule in rules}

    assert codes == {"Count": RETRIED, "FailJob": NOT_RETRIED}
