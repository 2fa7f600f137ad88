"""`python -m compare <command> …`: dispatch to the command's module (function `main`)."""
import importlib
import sys

from data.io import run_cli

COMMANDS = {
    "report": ("report", "train what is missing, then write report/<corpus>-<src>-<tgt>/index.html + results.csv"),
    "experiments": ("experiments", "only train the systems the report needs (no report)"),
    "score": ("score", "score a detokenised hypothesis file: --hyp F --ref F (prints JSON)"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(f"usage: python -m compare {'|'.join(COMMANDS)} [--help]\n")
        for name, (module, text) in COMMANDS.items():
            print(f"  {name:12s} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, _ = COMMANDS[argv[0]]
    return importlib.import_module(f"compare.{module}").main(argv[1:])


if __name__ == "__main__":
    run_cli(main)
