"""`python -m smt <command> …`: dispatch to the command's module (`smt/<command>.py`, function `main`)."""
from data.io import dispatch, run_cli

COMMANDS = {
    "align": ("align", "word-align two tokenised files (IBM1/IBM2/HMM + symmetrisation), print Pharaoh"),
    "aer": ("aer", "alignment error rate of Pharaoh alignments against gold sure/possible links"),
    "phrases": ("phrases", "extract and score a Moses phrase table from aligned text"),
    "lm": ("lm", "build a KenLM n-gram model with lmplz + build_binary"),
    "decode": ("decode", "stack-decode source sentences with a phrase table, LM and weights"),
    "tune": ("tune", "MERT weight tuning on a dev set"),
    "train": ("pipeline", "the whole PBSMT system for a corpus: align, phrases, LM, tune, translate, score"),
}


def main(argv=None):
    return dispatch("smt", COMMANDS, argv)


if __name__ == "__main__":
    run_cli(main)
