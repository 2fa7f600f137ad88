"""Every command's --help: each default printed once and as its value; one vocabulary across the
entry points (smt, nmt, compare, data); --version everywhere; old spellings still parse."""
from __future__ import annotations

import argparse
import importlib
import re

import pytest

from data.io import VERSION

PACKAGES = ("smt", "nmt", "compare", "data")
#: one idea, one flag: these spellings were used for an idea that now has the flag on the right
OLD_SPELLINGS = {"--model": "--align-model", "--processes": "--jobs", "--align-shards": "--shards",
                 "--mert-seed": "--seed", "--num-threads": "--threads"}


def _commands():
    for package in PACKAGES:
        for name, (module, _) in importlib.import_module(f"{package}.__main__").COMMANDS.items():
            yield package, name, module if "." in module else f"{package}.{module}"


COMMANDS = list(_commands())


def _help(module: str, argv: list[str], monkeypatch, capsys) -> tuple[str, argparse.ArgumentParser]:
    """The --help text of ``module``'s command and the parser that printed it."""
    seen: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.print_help

    def spy(self, file=None):
        seen.append(self)
        return original(self, file)

    monkeypatch.setattr(argparse.ArgumentParser, "print_help", spy)
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as ex:
        importlib.import_module(module).main([*argv, "--help"])
    assert ex.value.code == 0
    return capsys.readouterr().out, seen[-1]


def _shown(value) -> str:
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("package,name,module", COMMANDS, ids=[f"{p}-{n}" for p, n, _ in COMMANDS])
def test_help_prints_each_default_once_as_a_value(package, name, module, monkeypatch, capsys):
    for argv in ([], ["--profile", "full"]) if package != "data" and name not in ("score", "aer", "align", "phrases",
                                                                                "lm", "decode", "tune", "translate") else ([],):
        _, parser = _help(module, argv, monkeypatch, capsys)
        fmt = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or action.dest in ("help", "version"):
                continue
            text = fmt._expand_help(action) if action.help else ""
            flag = action.option_strings[0]
            assert text.count("default") <= 1, f"{package} {name} {flag}: default named twice: {text!r}"
            assert "the profile's" not in text, f"{package} {name} {flag}: a profile default not resolved: {text!r}"
            assert "default: None" not in text and "(default: )" not in text, f"{package} {name} {flag}: {text!r}"
            if action.default not in (None, False, argparse.SUPPRESS) and not isinstance(action, argparse._StoreTrueAction):
                assert "default" in text and _shown(action.default) in text, \
                    f"{package} {name} {flag}: default {action.default!r} not printed: {text!r}"
            if "(profile " in text:   # a profile's default: the value, then where it comes from
                assert re.search(r"default: \S.* \(profile (quick|full|tiny)", text), text


def test_profile_defaults_follow_the_profile(monkeypatch, capsys):
    """The printed default is the chosen profile's value, e.g. smt train's aligner."""
    from data.profiles import get
    for profile in ("quick", "full"):
        out, _ = _help("smt.pipeline", ["--profile", profile], monkeypatch, capsys)
        model = get(profile, "smt")["align_model"]
        assert re.search(rf"default:\s+{model}\s+\(profile\s+{profile}\)", out), out
        out, _ = _help("nmt.train", ["--profile", profile, "--arch", "rnnenc"], monkeypatch, capsys)
        steps = get(profile, "nmt")["per_arch"]["rnnenc"]["max_steps"]
        assert re.search(rf"--max-steps MAX_STEPS\s.*?default: {steps} \(profile {profile}, rnnenc\)", out, re.S), out


def test_one_vocabulary_across_entry_points(monkeypatch, capsys):
    """No visible option spells an idea the old way; the ideas' flags are the same wherever they occur."""
    visible: dict[str, set[str]] = {}
    for package, name, module in COMMANDS:
        _, parser = _help(module, [], monkeypatch, capsys)
        for action in parser._actions:
            if action.help != argparse.SUPPRESS:
                for flag in action.option_strings:
                    visible.setdefault(flag, set()).add(f"{package} {name}")
    for old, new in OLD_SPELLINGS.items():
        assert old not in visible, f"{old} (say {new}) still shown by {sorted(visible[old])}"
    assert {"smt align", "smt train"} <= visible["--align-model"]
    assert {"smt align", "smt phrases", "smt train"} <= visible["--shards"]
    assert {"smt align", "smt phrases", "smt decode", "smt tune", "smt train", "compare report",
            "compare experiments"} <= visible["--jobs"]
    assert {"smt align", "smt tune", "smt train", "nmt train"} <= visible["--seed"]
    assert {"nmt train", "nmt translate", "compare report", "compare experiments", "compare analyse"} <= visible["--threads"]
    assert "--profile" not in {f for f, where in visible.items() if "data prepare" in where}


def test_old_spellings_still_parse():
    """Hidden aliases for one release: they set the same option as the new flag."""
    from smt.pipeline import build_parser
    a = build_parser().parse_args(["--processes", "3", "--align-shards", "4", "--mert-seed", "7"])
    b = build_parser().parse_args(["--jobs", "3", "--shards", "4", "--seed", "7"])
    assert (a.jobs, a.align_shards, a.mert_seed) == (b.jobs, b.align_shards, b.mert_seed) == (3, 4, 7)
    assert build_parser().parse_args([]).jobs == 2      # an alias leaves the default alone


@pytest.mark.parametrize("package", PACKAGES)
def test_version_on_every_entry_point(package, capsys):
    assert importlib.import_module(f"{package}.__main__").main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"python -m {package} (mt-suite) {VERSION}"
