"""Work shared between the running process and worker processes it spawns.

``PLEDGE_WORKERS`` (``worker_count``) is how many processes may share a step's work: the traffic
forecasts (predict/risk.py) and the objective pages (report/render.py). ``shared_map`` runs a
list of independent items across them so that the running process never waits for the others to
start: it works from the front of the list while they start and take items from the back, and
each item is done once, by whichever reaches it first. A small list costs nothing extra; a large
one finishes about as soon as the work split evenly would, less a worker's start (a second or
two of imports).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import current_process, get_context
from typing import TypeVar

WORKERS_VARIABLE = "PLEDGE_WORKERS"

Item = TypeVar("Item")
Result = TypeVar("Result")


def worker_count() -> int:
    """``PLEDGE_WORKERS`` (a positive integer), by default min(2, CPUs): the processes a step
    may spread its work over, the running one included."""
    value = os.environ.get(WORKERS_VARIABLE, "").strip()
    if not value:
        return min(2, os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{WORKERS_VARIABLE} must be a positive integer, not {value!r}")
    return int(value)


def shared_map(
    function: Callable[[Item], Result], items: Sequence[Item], workers: int
) -> list[Result]:
    """``[function(item) for item in items]``, shared between this process and up to
    ``workers`` − 1 spawned ones (module docstring). ``function`` (a module-level function),
    the items and the results must pickle. Every item is given to the spawned processes, last
    first; this process takes items from the front, each one only if it can still withdraw it
    from them (Future.cancel), and stops at the first it cannot: from there on they have taken
    every item. A daemonic process (a Celery or multiprocessing pool's worker) may not start
    processes: it does every item itself."""
    if workers <= 1 or len(items) <= 1 or current_process().daemon:
        return [function(item) for item in items]
    results: dict[int, Result] = {}
    pool = ProcessPoolExecutor(min(workers - 1, len(items) - 1), mp_context=get_context("spawn"))
    try:
        futures: dict[int, Future[Result]] = {
            index: pool.submit(function, items[index]) for index in reversed(range(1, len(items)))
        }
        for index, item in enumerate(items):
            if index and not futures[index].cancel():
                break
            results[index] = function(item)
        for index, future in futures.items():
            if index not in results:
                results[index] = future.result()
    finally:
        # Not waiting: a worker still starting when every item is done exits by itself.
        pool.shutdown(wait=False, cancel_futures=True)
    return [results[index] for index in range(len(items))]


BATCH = 8
MIN_SHARED = 64
"""shared_batches' defaults: items of 20–50 ms (an objective's page or item simulation) go in
batches of BATCH, shared from MIN_SHARED items on (a worker takes a second or two to start)."""


def shared_batches(
    function: Callable[[list[Item]], list[Result]],
    items: Sequence[Item],
    workers: int,
) -> list[Result]:
    """``function`` (one result per item of the list it is given) over ``items`` in lists of
    BATCH, shared_map'ed over ``workers`` processes when there are MIN_SHARED items or more; the
    results in the items' order."""
    batches = [list(items[start : start + BATCH]) for start in range(0, len(items), BATCH)]
    shared = workers if len(items) >= MIN_SHARED else 1
    return [result for done in shared_map(function, batches, shared) for result in done]
