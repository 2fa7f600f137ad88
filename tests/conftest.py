"""Shared test fixtures: an isolated build/runs folder, ``../shared/data`` and a tiny corpus
(the helpers behind them are in tests/helpers.py, which test modules import)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import SHARED, make_tiny_corpus


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Send build/ and runs/ output into a temp dir (env honoured by data.prepare and the CLIs)."""
    monkeypatch.setenv("MT_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("MT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    return tmp_path


@pytest.fixture
def tiny_corpus(tmp_path):
    return make_tiny_corpus(tmp_path / "tiny")


@pytest.fixture(scope="session")
def shared() -> Path:
    """``../shared/data`` (Multi30k, Hansards trial): the real data the tests run on."""
    assert SHARED.is_dir(), f"{SHARED}: the shared data folder is missing (CI puts ../shared beside the repository)"
    return SHARED


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """A trained tiny study (tests/helpers.py ``train_tiny_study``), shared by the translate/serve/browser
    tests; yields (root, corpus directory, runs/<corpus>/es-en) with MT_BUILD_DIR / MT_RUNS_DIR set."""
    from tests.helpers import train_tiny_study
    root = tmp_path_factory.mktemp("study")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MT_BUILD_DIR", str(root / "build"))
        mp.setenv("MT_RUNS_DIR", str(root / "runs"))
        mp.setenv("MT_NO_PROGRESS", "1")
        corpus, runs = train_tiny_study(root)
        yield root, corpus, runs
