"""No silent reuse: a finished NMT system trained with another thread count than the study's is not
taken as done by `make report` (compare.experiments.settings_mismatch), and says why in one line."""
from __future__ import annotations

import json

from compare import experiments
from data.io import cpu_kind
from data.profiles import section_hash


def _run(tmp_path, name="rnnsearch", **meta):
    d = tmp_path / name
    d.mkdir()
    (d / "test.hyp").write_text("a\n")
    (d / "scores.json").write_text(json.dumps({"corpus_hash": "h", "profile": "quick",
                                               "profile_section_sha256": section_hash("quick", "nmt"), **meta}))
    return d


def test_settings_mismatch_names_the_thread_counts(tmp_path):
    d = _run(tmp_path, threads=2, device="cpu")
    why = experiments.settings_mismatch(d, {"threads": 1})
    assert why is not None and "2 thread(s)" in why and "uses 1" in why and "retraining" in why
    assert "\n" not in why
    assert experiments.settings_mismatch(d, {"threads": 2}) is None      # the same count: reused
    assert experiments.settings_mismatch(d, None) is None                # PBSMT: nothing to compare


def test_settings_mismatch_takes_unrecorded_and_gpu_runs_as_they_are(tmp_path):
    assert experiments.settings_mismatch(_run(tmp_path, "old"), {"threads": 1}) is None
    assert experiments.settings_mismatch(_run(tmp_path, "gpu", threads=16, device="cuda:0"), {"threads": 1}) is None


def test_is_done_refuses_a_run_trained_with_other_threads(tmp_path, capsys):
    d = _run(tmp_path, threads=2, device="cpu")
    assert experiments.is_done(d, "h", "quick", "nmt") is True                       # no expectation given
    assert experiments.is_done(d, "h", "quick", "nmt", {"threads": 1}) is False
    assert experiments.is_done(d, "h", "quick", "nmt", {"threads": 1}) is False
    out = capsys.readouterr().out
    assert out.count("trained with 2 thread(s)") == 1                                # said once
    assert experiments.is_done(d, "h", "quick", "nmt", {"threads": 2}) is True


def test_study_settings_only_for_nmt():
    jobs = {j.system: j for j in experiments.plan("bible", "es", "en", "quick", 1000)}
    assert experiments.study_settings(jobs["rnnsearch"], 1) == {"threads": 1}
    assert experiments.study_settings(jobs["pbsmt"], 1) is None


def test_cpu_kind_is_one_of_the_recorded_kinds():
    assert cpu_kind() in ("AMX", "AVX-512", "AVX-512 BF16", "AVX2", "other")
