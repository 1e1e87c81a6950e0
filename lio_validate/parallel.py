"""Run independent chunks of work serially, on local processes or on a Dask cluster.

:func:`run_chunks` calls ``function(payload, chunk)`` for every chunk and
returns the results in chunk order, so a caller whose chunks are
deterministic gets the same results from every executor:

* serially in this process (``n_jobs=1``, the default), with numpy's BLAS
  limited to one thread while the chunks run (joblib 1.6 limits its loky
  workers to cpu_count // n_jobs threads);
* on ``n_jobs`` local processes with joblib's loky backend;
* on a Dask cluster, given its scheduler address (``"tcp://host:port"``) or
  a ``dask.distributed.Client``. The payload is scattered to every worker
  once (``client.scatter(..., broadcast=True)``) and each task receives only
  a reference to it and its own chunk.

Exceptions raised by ``function`` propagate to the caller; the functions run
here are expected to catch and record the failures they anticipate.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lio_validate.exceptions import LioInputError

__all__ = ["ExecutorInfo", "resolve_n_jobs", "run_chunks", "show_progress"]


@dataclass(frozen=True)
class ExecutorInfo:
    """Executor record: ``backend`` ("serial", "joblib" or "dask"),
    ``n_workers`` (processes or Dask worker threads) and ``seconds`` of wall
    time."""

    backend: str
    n_workers: int
    seconds: float

    def describe(self) -> str:
        return (f"{self.backend}, {self.n_workers} worker(s), "
                f"{self.seconds:.1f} s wall time")


def resolve_n_jobs(n_jobs: int) -> int:
    """Return the number of local processes for ``n_jobs`` (-1 means all cores)."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 \
            or n_jobs < -1:
        raise LioInputError(
            f"n_jobs must be a positive number of processes or -1 for all cores, "
            f"not {n_jobs!r}"
        )
    if n_jobs == -1:
        return os.cpu_count() or 1
    return n_jobs


def show_progress(progress: bool | None) -> bool:
    """Return whether to draw a progress bar: by default only on a terminal."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def _progress_bar(total: int, enabled: bool, description: str):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, desc=description, unit="replicate",
                leave=False)


def run_chunks(
    function: Callable[[Any, Sequence[int]], Any],
    payload: Any,
    chunks: Sequence[Sequence[int]],
    *,
    n_jobs: int = 1,
    scheduler=None,
    progress: bool | None = None,
    description: str = "bootstrap",
) -> tuple[list[Any], ExecutorInfo]:
    """Apply ``function(payload, chunk)`` to every chunk; results in chunk order.

    Parameters
    ----------
    function : callable
        A module-level function, so that worker processes can import it.
    payload : object
        Data shared by all chunks; picklable.
    chunks : sequence of sequences of int
        The work items, for example replicate numbers.
    n_jobs : int, default 1
        Local processes; -1 uses every core. Must stay 1 with ``scheduler``.
    scheduler : str or dask.distributed.Client, optional
        A Dask scheduler address such as ``"tcp://127.0.0.1:8786"``, or a
        connected client. A client created here from an address is closed
        before returning.
    progress : bool, optional
        Draw a tqdm progress bar; by default only when stderr is a terminal.
    description : str
        Label of the progress bar.

    Returns
    -------
    (list, ExecutorInfo)
    """
    workers = resolve_n_jobs(n_jobs)
    if scheduler is not None and workers != 1:
        raise LioInputError(
            "give either n_jobs (local processes) or scheduler (a Dask cluster), "
            "not both"
        )
    total = sum(len(chunk) for chunk in chunks)
    started = time.perf_counter()
    with _progress_bar(total, show_progress(progress), description) as bar:
        if scheduler is not None:
            results, workers = _run_dask(function, payload, chunks, scheduler, bar)
            backend = "dask"
        elif workers == 1:
            results = _run_serial(function, payload, chunks, bar)
            backend = "serial"
        else:
            results = _run_joblib(function, payload, chunks, workers, bar)
            backend = "joblib"
    return results, ExecutorInfo(backend, workers, time.perf_counter() - started)


def _run_serial(function, payload, chunks, bar) -> list[Any]:
    # threadpoolctl is installed with scikit-learn, a dependency.
    from threadpoolctl import threadpool_limits

    # A bootstrap replicate is a sequence of small matrix operations (117
    # parameters and 32 items in the bundled example), which a second BLAS
    # thread does not speed up. On a shared 2-core machine under load, its
    # spin-waiting made a replicate of that example 8 times slower (median
    # 0.32 s against 0.04 s with one thread).
    results = []
    with threadpool_limits(limits=1, user_api="blas"):
        for chunk in chunks:
            results.append(function(payload, chunk))
            bar.update(len(chunk))
    return results


def _run_joblib(function, payload, chunks, workers: int, bar) -> list[Any]:
    from joblib import Parallel, delayed

    # Arrays above joblib's max_nbytes (1 MB by default) travel to the loky
    # workers as memory-mapped files, written once, not pickled per chunk.
    parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator")
    results = []
    for chunk, result in zip(chunks, parallel(delayed(function)(payload, chunk)
                                              for chunk in chunks)):
        results.append(result)
        bar.update(len(chunk))
    return results


def _run_dask(function, payload, chunks, scheduler, bar) -> tuple[list[Any], int]:
    try:
        from distributed import Client, as_completed
    except ImportError as error:  # pragma: no cover - dask is a dependency
        raise LioInputError(
            "scheduler= needs dask.distributed; install it with "
            "pip install 'dask[distributed]'"
        ) from error

    if isinstance(scheduler, str):
        if "://" not in scheduler:
            raise LioInputError(
                f"scheduler must be a Dask scheduler address such as "
                f"'tcp://127.0.0.1:8786' or a dask.distributed.Client, not "
                f"{scheduler!r}"
            )
        client, owned = Client(scheduler, set_as_default=False), True
    elif isinstance(scheduler, Client):
        client, owned = scheduler, False
    else:
        raise LioInputError(
            f"scheduler must be an address string or a dask.distributed.Client, "
            f"not {type(scheduler).__name__}"
        )

    try:
        workers = max(1, sum(client.nthreads().values()))
        [shared] = client.scatter([payload], broadcast=True)
        futures = [client.submit(function, shared, list(chunk), pure=False)
                   for chunk in chunks]
        position = {future.key: k for k, future in enumerate(futures)}
        results: list[Any] = [None] * len(chunks)
        for future in as_completed(futures, loop=client.loop):
            k = position[future.key]
            results[k] = future.result()
            bar.update(len(chunks[k]))
        return results, workers
    finally:
        if owned:
            client.close()
