"""`python -m data <command> …`: dispatch to the command's module (function `main`)."""
from data.io import dispatch, run_cli

COMMANDS = {
    "prepare": ("prepare", "NFC, Moses tokenisation + truecasing, cleaning into build/; print the corpus table"),
}


def main(argv=None):
    return dispatch("data", COMMANDS, argv)


if __name__ == "__main__":
    run_cli(main)
