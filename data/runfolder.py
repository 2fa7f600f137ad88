"""The run-folder contract: the files a system folder ``runs/<corpus>/<src>-<tgt>/<system>/`` holds,
named once (ARCHITECTURE.md has the table of who writes and who reads each). The trainers write
these names, the study and the report read them; :meth:`data.prepare.Prepared.run_dir` gives the
folder.
"""
from __future__ import annotations

from pathlib import Path

#: scores.json: BLEU/chrF with sacreBLEU signatures, corpus hash, settings, seed, times (both trainers)
SCORES = "scores.json"
#: the detokenised, recased test output, one line a sentence (both trainers)
TEST_HYP = "test.hyp"
#: the tokenised, truecased test output before post-processing (both trainers)
TEST_TOK = "test.tok.hyp"
#: what PBSMT runs made before the names were unified called TEST_TOK (still read)
LEGACY_PBSMT_TEST_TOK = "test.tuned.tok"
#: the training log (NMT: JSON lines; PBSMT: time-stamped text)
TRAIN_LOG = "train.log"
#: RNNsearch attention of ~20 test sentences (nmt/trainer.py)
ATTENTION = "attention.npz"
#: Pharaoh word alignment of the PBSMT test output (smt/pipeline.py)
TEST_ALIGN = "test.align"
#: the truecasing model of a language, copied from the prepared corpus (build/…/truecase.<lang>) by
#: both trainers so that a system folder translates raw text on its own (compare/translate.py)
TRUECASER = "truecase.{lang}"
#: the decoding analyses' caches (compare/analysis_cache.py)
BEAM_SWEEP, DOMAIN = "beam_sweep.json", "domain.json"


def tokenised_output_path(d: Path) -> Path | None:
    """The system's tokenised test output (``test.tok.hyp``; an older PBSMT run's ``test.tuned.tok``), or None."""
    for name in (TEST_TOK, LEGACY_PBSMT_TEST_TOK):
        if (Path(d) / name).is_file():
            return Path(d) / name
    return None
