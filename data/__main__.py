"""`python -m data prepare [--corpus bible] [--src es] [--tgt en]`: prepare a corpus, print its table."""
import argparse
import sys

from data.io import run_cli
from data.prepare import add_corpus_args, prepare, table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="NFC, Moses tokenisation + truecasing, cleaning; print the corpus table")
    add_corpus_args(p)
    args = parser.parse_args(argv)
    prepared = prepare(args.corpus, args.src, args.tgt)
    print(table(prepared))
    return 0


if __name__ == "__main__":
    run_cli(main)
