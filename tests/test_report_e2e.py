"""The whole study in miniature: `make report` on a tiny real corpus with tiny models."""
from __future__ import annotations

import csv
import json
import os
import subprocess
from html.parser import HTMLParser

from tests.helpers import ROOT, make_tiny_corpus


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs).get("src", ""))


def test_make_report_end_to_end(tmp_path):
    corpus = make_tiny_corpus(tmp_path / "mini", n_train=160, n_dev=20, n_test=40, n_ood=25)
    env = dict(os.environ, MT_BUILD_DIR=str(tmp_path / "build"), MT_RUNS_DIR=str(tmp_path / "runs"),
               MT_REPORT_DIR=str(tmp_path / "report"), MT_NO_PROGRESS="1")
    cmd = ["make", "-s", "report", f"CORPUS={corpus}", "SRC=de", "TGT=en", "PROFILE=tiny", "JOBS=1"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = tmp_path / "report" / "mini-de-en"
    html = (out / "index.html").read_text(encoding="utf-8")
    parser = _Images()
    parser.feed(html)
    assert len(parser.srcs) >= 3 and all(s.startswith("data:image/") and len(s) > 500 for s in parser.srcs)
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert list(rows[0]) == ["experiment", "system", "bucket", "vocab_size", "train_size", "bleu", "ci_low", "ci_high", "n"]
    systems = {row["system"] for row in rows}
    assert {"pbsmt", "rnnenc", "rnnsearch", "rnnsearch-v50", "rnnsearch-v100", "pbsmt-n80", "rnnsearch-n80"} <= systems
    overall = {row["system"]: row for row in rows if row["experiment"] == "overall"}
    # the beam sweep ran on the trained systems: every NMT beam with and without normalisation, every stack
    beam_rows = {(row["system"], row["bucket"]) for row in rows if row["experiment"] == "beam"}
    assert {("rnnsearch", "beam=1,lp=1"), ("rnnsearch", "beam=3,lp=0"), ("rnnenc", "beam=3,lp=1"),
            ("pbsmt", "stack=5"), ("pbsmt", "stack=20")} <= beam_rows
    assert "Needs rnnsearch's attention.npz" not in html   # attention vs the forced alignment was computed
    dom = {(row["system"], row["bucket"]): row for row in rows if row["experiment"] == "domain"}
    assert {("pbsmt", "coco"), ("rnnsearch", "coco"), ("rnnenc", "in-domain")} <= set(dom)
    assert int(dom[("pbsmt", "coco")]["n"]) == 25
    rare = list(csv.DictReader((out / "rare_words.csv").open(encoding="utf-8")))
    assert {r["system"] for r in rare} == {"pbsmt", "rnnenc", "rnnsearch"}
    in_results = {(row["system"], row["bucket"]): row for row in rows if row["experiment"] == "rare_words"}
    assert len(in_results) == len(rare)
    for r in rare:  # the same numbers in results.csv: F × 100, n = the bucket's reference words
        row = in_results[(r["system"], r["bucket"])]
        assert abs(float(row["bleu"]) - 100 * float(r["f1"])) <= 0.006 and int(row["n"]) == int(r["ref_words"])
    assert int(overall["pbsmt"]["n"]) == 40
    for row in overall.values():  # the bootstrap interval brackets the corpus BLEU
        assert float(row["ci_low"]) <= float(row["bleu"]) <= float(row["ci_high"])
    # the 40 test sentences fall into the length buckets exactly once
    assert sum(int(row["n"]) for row in rows if row["experiment"] == "length" and row["system"] == "pbsmt") == 40
    # a second run trains nothing and leaves every system's scores untouched
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("scores.json")}
    r2 = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert "training" not in r2.stdout and "analysing" not in r2.stdout and r2.stdout.count("up to date") >= 10
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("scores.json")}

    # the same study with two systems trained at a time gives the same systems, to the update and the word
    env2 = dict(env, MT_RUNS_DIR=str(tmp_path / "runs2"), MT_REPORT_DIR=str(tmp_path / "report2"))
    r3 = subprocess.run([*cmd[:-1], "JOBS=2"], cwd=ROOT, env=env2, capture_output=True, text=True)
    assert r3.returncode == 0, r3.stdout[-3000:] + r3.stderr[-3000:]
    assert "2 at a time" in r3.stdout
    seq, par = tmp_path / "runs" / "mini" / "de-en", tmp_path / "runs2" / "mini" / "de-en"
    names = sorted(d.name for d in seq.iterdir() if (d / "scores.json").is_file())
    assert names == sorted(d.name for d in par.iterdir() if (d / "scores.json").is_file()) and len(names) >= 7
    for name in names:
        a, b = (json.loads((d / name / "scores.json").read_text()) for d in (seq, par))
        assert (a["bleu"], a.get("steps"), a.get("best_step")) == (b["bleu"], b.get("steps"), b.get("best_step")), name
        assert (seq / name / "test.hyp").read_bytes() == (par / name / "test.hyp").read_bytes(), name
    # the decoding analyses ran as jobs beside the training (their own log), with the report's numbers
    assert "analysing rnnsearch:analyses" in r3.stdout and (par / "rnnsearch" / "analyse.log").is_file()
    for name in ("pbsmt", "rnnenc", "rnnsearch"):
        a, b = (json.loads((d / name / "beam_sweep.json").read_text()) for d in (seq, par))
        assert a["rows"] == b["rows"], name
        assert (seq / name / "test-coco.hyp").read_bytes() == (par / name / "test-coco.hyp").read_bytes(), name
