"""`python -m nmt <command> …`: dispatch to the command's module (`nmt/<command>.py`, function `main`)."""
import importlib
import sys

from data.io import run_cli

COMMANDS = {
    "train": ("train", "train rnnenc/rnnsearch on a prepared corpus, translate the test set, score"),
    "translate": ("translate", "translate a file with a trained checkpoint (greedy or beam)"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(f"usage: python -m nmt {'|'.join(COMMANDS)} [--help]\n")
        for name, (module, text) in COMMANDS.items():
            print(f"  {name:10s} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, _ = COMMANDS[argv[0]]
    return importlib.import_module(f"nmt.{module}").main(argv[1:])


if __name__ == "__main__":
    run_cli(main)
