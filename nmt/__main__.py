"""`python -m nmt <command> …`: dispatch to the command's module (`nmt/<command>.py`, function `main`)."""
from data.io import dispatch, run_cli

COMMANDS = {
    "train": ("train", "train rnnenc/rnnsearch on a prepared corpus, translate the test set, score"),
    "translate": ("translate", "translate a file with a trained checkpoint (greedy or beam)"),
}


def main(argv=None):
    return dispatch("nmt", COMMANDS, argv)


if __name__ == "__main__":
    run_cli(main)
