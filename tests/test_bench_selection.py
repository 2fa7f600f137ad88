import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from selection import select_bleu


def test_pbsmt_and_nmt_shapes(tmp_path):
    a = tmp_path / "smt"; a.mkdir()
    (a / "scores.json").write_text(json.dumps({"bleu_test_tuned": {"bleu": 30.0},
                                               "bleu_select_tuned": {"bleu": 31.5}}))
    b = tmp_path / "nmt"; b.mkdir()
    (b / "scores.json").write_text(json.dumps({"test": {"bleu": 20.0},
                                               "select": {"sentences": 5, "score": {"bleu": 22.25}}}))
    c = tmp_path / "old"; c.mkdir()
    (c / "scores.json").write_text(json.dumps({"bleu_test_tuned": {"bleu": 30.0}}))
    assert select_bleu(a) == 31.5
    assert select_bleu(b) == 22.25
    assert select_bleu(c) is None
