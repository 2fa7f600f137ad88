"""`python -m nmt <command> …`: dispatch to the command's module (`nmt/<command>.py`, function `main`)."""
import os

# Idle OpenMP threads sleep instead of spinning (before torch starts its thread pool): a 2-thread job
# sharing 2 cores with another process otherwise slows 10-40x. The user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from data.io import dispatch, run_cli  # noqa: E402

COMMANDS = {
    "train": ("train", "train rnnenc/rnnsearch on a prepared corpus, translate the test set, score"),
    "translate": ("translate", "translate a file with a trained checkpoint (greedy or beam)"),
}


def main(argv=None):
    return dispatch("nmt", COMMANDS, argv)


if __name__ == "__main__":
    run_cli(main)
