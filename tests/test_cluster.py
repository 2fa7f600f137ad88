"""smt.cluster.Engine: one ordered map, the same results in process, forked and on a 2-process LocalCluster."""
import numpy as np
import pytest

from data.io import UserError
from smt.cluster import Engine, parse_scheduler

pytest.importorskip("distributed", reason="dask distributed is not installed (requirements.txt)")


def _scaled(k, shared):
    return (shared["t"] * (k + 1)).sum(), k


def test_parse_scheduler():
    assert parse_scheduler("local") == ("local", None)
    assert parse_scheduler("local:2") == ("local", 2)
    assert parse_scheduler("tcp://h:8786") == ("tcp://h:8786", None)
    with pytest.raises(UserError):
        parse_scheduler("local:0")


def test_same_ordered_results_everywhere():
    shared = {"t": np.random.default_rng(0).random(1000)}
    ref = list(Engine().map(_scaled, 7, shared))
    assert [k for _, k in ref] == list(range(7))
    assert list(Engine(jobs=2).map(_scaled, 7, shared)) == ref
    with Engine(scheduler="local:2") as e:
        assert e.workers == 2
        assert list(e.map(_scaled, 7, shared)) == ref
