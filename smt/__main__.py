"""`python -m smt <command> …`: dispatch to the command's module (`smt/<command>.py`, function `main`)."""
import importlib
import sys

from data.io import run_cli

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
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(f"usage: python -m smt {'|'.join(COMMANDS)} [--help]\n")
        for name, (module, text) in COMMANDS.items():
            print(f"  {name:10s} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, _ = COMMANDS[argv[0]]
    return importlib.import_module(f"smt.{module}").main(argv[1:])


if __name__ == "__main__":
    run_cli(main)
