"""The source tree keeps cloud knowledge in `batch_ims/clouds/` and imports downward only.

Read with `ast`: import statements and string literals (docstrings and comments may
mention a cloud; code and the text it prints may not).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "batch_ims"

# what only a cloud's package may name: cloud and service names, IMS paths and codes,
# Huawei's variables, Keystone details
_CLOUD_WORDS = re.compile(
    r"\b(ims|huawei\w*|keystone\w*|glance|openstack)\b|/v2/cloudimages|/v3/auth|IMG\.\d|"
    r"APIGW?\.\d|HUAWEICLOUD_|myhuaweicloud|X-Auth-Token|X-Subject-Token",
    re.IGNORECASE,
)
_OWN_NAME = re.compile(r"batch[-_]ims", re.IGNORECASE)
# the protocols (`clouds`, `clouds.base`, `.auth`, `.service`) are for everyone; the families
# are reached through the registry
_FAMILIES = ("batch_ims.clouds.huawei", "batch_ims.clouds.openstack")
# the emulator stands in for the clouds, the demo starts it; the command line is the user's
# surface and names the clouds a user chooses between (in help texts only, checked below)
_EXEMPT = ("clouds", "emulator", "demo.py", "cli.py")
# lower layers never import higher ones
_LAYERS: dict[str, tuple[str, ...]] = {
    "manifest": ("clouds", "run", "output", "transport", "cli", "preview", "export"),
    "transport": ("clouds", "run", "output", "manifest", "cli", "preview", "export"),
    "output": ("clouds", "run", "cli", "preview", "export"),
    "clouds": ("run", "output", "cli", "preview", "export"),
    "run": ("cli",),
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def cloud_words(source: str) -> list[str]:
    """Cloud names in imports and non-docstring string literals of one module's source."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = [name for name in _imports(tree) if name.startswith(_FAMILIES)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            match = _CLOUD_WORDS.search(_OWN_NAME.sub("", node.value))
            if match:
                found.append(f"{match.group(0)!r} in {node.value[:60]!r}")
    return found


def test_the_checker_finds_what_it_looks_for() -> None:
    source = (
        '"""Docstrings may say IMS."""\n'
        "from batch_ims.clouds.huawei.ims import ImsService\n"
        "from batch_ims.clouds.base import Target\n"
        "NAME = 'batch-ims'\n"
        "URL = '/v2/cloudimages'\n"
        "CODE = 'IMG.0060'\n"
        "# a comment may say Keystone\n"
        "OK = 'the image service'\n"
    )
    assert cloud_words(source) == [
        "batch_ims.clouds.huawei.ims",
        "'/v2/cloudimages' in '/v2/cloudimages'",
        "'IMG.0' in 'IMG.0060'",
    ]


@pytest.mark.parametrize(
    "module",
    [p for p in _modules() if not _relative(p).startswith(_EXEMPT)],
    ids=_relative,
)
def test_no_cloud_knowledge_outside_clouds(module: Path) -> None:
    assert cloud_words(module.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("layer", sorted(_LAYERS))
def test_no_import_from_a_lower_layer_to_a_higher_one(layer: str) -> None:
    forbidden = tuple(f"batch_ims.{name}" for name in _LAYERS[layer])
    wrong = []
    for module in sorted((PACKAGE / layer).rglob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for name in _imports(tree):
            if name.startswith(forbidden):
                wrong.append(f"{_relative(module)} imports {name}")
    assert wrong == []


def test_the_command_line_reaches_clouds_only_through_the_registry() -> None:
    tree = ast.parse((PACKAGE / "cli.py").read_text(encoding="utf-8"))
    reached = {name for name in _imports(tree) if name.startswith(_FAMILIES)}
    assert reached == set()
