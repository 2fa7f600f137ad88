"""Where the sharded PBSMT steps run: in this process, in forked worker processes, or on Dask.

The sharded steps (:class:`smt.align.ShardedEM`'s E-steps, ``smt phrases --shards K``) are a map
``fn(k, shared)`` over shard indices k = 0 … K-1 and a reduction of the results *in shard order*
(so the sums, hence the models and tables, do not depend on where or when a shard ran).
:class:`Engine.map` is the one map: it yields ``fn(k, shared)`` for k in order, whichever engine
runs it; the caller's loop over it is the one ordered reduce.

* ``jobs = 1``, no scheduler: in this process;
* ``jobs = J > 1``: J forked worker processes (``shared`` reaches them through fork, unpickled);
* ``scheduler = "local[:N]"``: a ``distributed.LocalCluster`` of N worker processes (1 thread each;
  N defaults to the CPU count); ``scheduler = ADDRESS`` (``tcp://host:8786``): a running
  ``dask scheduler`` with its ``dask worker``s. ``shared`` (e.g. the corpus-wide t-table of one EM
  iteration) is sent once to every worker, ``client.scatter(..., broadcast=True)``, never inside a
  task; at most ``2 × workers`` tasks are in flight, so finished results wait in bounded memory.
  Dask reruns the tasks of a worker that dies elsewhere; a lost scheduler is a :class:`UserError`.

Shards are read from paths that every worker must see (a shared file system on a cluster).
"""
from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator

from data.io import UserError

#: what the forked workers call (set before they fork: one map at a time)
_FORKED: dict = {}


def _forked_call(k: int):
    return _FORKED["fn"](k, _FORKED["shared"])


def parse_scheduler(spec: str) -> tuple[str, int | None]:
    """``"local"`` / ``"local:N"`` -> ("local", N or None); anything else -> (address, None)."""
    if spec == "local" or spec.startswith("local:"):
        n = spec.partition(":")[2]
        if n and (not n.isdigit() or int(n) < 1):
            raise UserError(f"--scheduler {spec!r}: local:N needs N >= 1 worker processes")
        return "local", int(n) if n else None
    if not spec:
        raise UserError("--scheduler: give local[:N] or the address of a running dask scheduler")
    return spec, None


class Engine:
    """The map of the sharded steps (module docstring). Use as a context manager."""

    def __init__(self, jobs: int = 1, scheduler: str | None = None):
        if jobs < 1:
            raise UserError(f"jobs must be >= 1 (got {jobs})")
        self.jobs, self.scheduler = jobs, scheduler
        self.client = self._cluster = None
        if scheduler is not None:
            self._connect(scheduler)

    def _connect(self, spec: str) -> None:
        from distributed import Client, LocalCluster   # optional dependency, only with --scheduler
        where, n = parse_scheduler(spec)
        try:
            if where == "local":
                self._cluster = LocalCluster(n_workers=n or os.cpu_count() or 1, threads_per_worker=1,
                                             processes=True, dashboard_address=None)
                self.client = Client(self._cluster)
            else:
                self.client = Client(where, timeout=30)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise UserError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
        self.address = self.client.scheduler.address

    @property
    def workers(self) -> int:
        if self.client is not None:
            return max(len(self.client.scheduler_info()["workers"]), 1)
        return self.jobs

    def map(self, fn: Callable[[int, Any], Any], n: int, shared: Any = None) -> Iterator:
        """``fn(k, shared)`` for k = 0 … n-1, yielded in that order (``fn``: a module-level function)."""
        if self.client is not None:
            yield from self._map_dask(fn, n, shared)
        elif self.jobs == 1 or n <= 1:
            yield from (fn(k, shared) for k in range(n))
        else:
            _FORKED.update(fn=fn, shared=shared)
            try:
                with ProcessPoolExecutor(min(self.jobs, n), mp_context=mp.get_context("fork")) as pool:
                    try:
                        yield from pool.map(_forked_call, range(n))
                    except BrokenProcessPool:
                        raise UserError("a shard worker died (out of memory?): use more shards or fewer jobs") from None
            finally:
                _FORKED.clear()

    def _map_dask(self, fn, n: int, shared) -> Iterator:
        client = self.client
        try:
            data = client.scatter(shared, broadcast=True) if shared is not None else None
            window, pending, nxt = 2 * self.workers, deque(), 0
            while nxt < n or pending:
                while nxt < n and len(pending) < window:
                    pending.append(client.submit(fn, nxt, data, pure=False))
                    nxt += 1
                fut = pending.popleft()
                result = fut.result()
                fut.release()
                yield result
        except UserError:
            raise
        except Exception as exc:      # noqa: BLE001 — a lost scheduler surfaces as several kinds
            if client.status != "running" or type(exc).__module__.startswith(("distributed", "tornado", "asyncio")):
                raise UserError(f"lost the Dask scheduler at {self.address} ({type(exc).__name__}): rerun the "
                                f"same command to resume from the last completed iteration") from None
            raise

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
