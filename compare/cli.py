"""``mt-suite smt|nmt|compare|data …``: the one installed command (pyproject.toml's
``[project.scripts]``), the same as ``python -m smt …`` etc. in the repository, from any directory."""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

from data.io import VERSION, run_cli

PACKAGES = {"smt": "phrase-based SMT: align, phrases, lm, decode, tune, train",
            "nmt": "RNN NMT: train, translate",
            "compare": "the study: report, experiments, analyse, score",
            "data": "prepare a corpus"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--version":
        print(f"mt-suite {VERSION}")
        return 0
    if not argv or argv[0] not in PACKAGES:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown command {argv[0]!r}", file=sys.stderr)
        print(f"usage: mt-suite {{{'|'.join(PACKAGES)}}} COMMAND [--help] | --version\n")
        for name, text in PACKAGES.items():
            print(f"  {name:8s} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return importlib.import_module(f"{argv[0]}.__main__").main(argv[1:])


def entry() -> None:
    run_cli(main)


if __name__ == "__main__":
    entry()
