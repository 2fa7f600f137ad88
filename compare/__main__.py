"""`python -m compare <command> …`: dispatch to the command's module (function `main`)."""
from data.io import dispatch, run_cli

COMMANDS = {
    "report": ("report", "train what is missing, then write report/<corpus>-<src>-<tgt>/index.html + results.csv"),
    "experiments": ("experiments", "only train the systems the report needs (no report)"),
    "analyse": ("analyses", "the beam/stack sweep and out-of-domain translations of one trained system (cached)"),
    "overlap": ("overlap", "test-train overlap: share of each test sentence's 6-grams found in train"),
    "translate": ("translate", "translate raw text with every trained system, side by side (--explain: what each did)"),
    "serve": ("serve", "a local web page (127.0.0.1) translating with every trained system, with pictures"),
    "score": ("evaluation.score", "score a detokenised hypothesis file: --hyp F --ref F (prints JSON)"),
}


def main(argv=None):
    return dispatch("compare", COMMANDS, argv)


if __name__ == "__main__":
    run_cli(main)
