"""pyproject.toml declares what requirements.txt pins (and torch, which setup.sh installs first)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines) -> set[str]:
    return {ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()}


def test_requirements_agree_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    torch = re.search(r'^TORCH_VERSION=(\S+)$', (ROOT / "scripts" / "setup.sh").read_text(), re.M).group(1)
    required = _pins((ROOT / "requirements.txt").read_text().splitlines()) | {f"torch=={torch}"}
    assert declared == required, f"only in pyproject.toml: {declared - required}; only in requirements.txt / " \
                                 f"setup.sh: {required - declared}"


def test_version_and_entry_point():
    from compare import cli
    from data.io import VERSION
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == VERSION
    module, func = project["scripts"]["mt-suite"].split(":")
    assert module == "compare.cli" and callable(getattr(cli, func))
    assert cli.main(["--version"]) == 0 and cli.main(["nope"]) == 2
    assert cli.main(["smt", "--version"]) == 0
