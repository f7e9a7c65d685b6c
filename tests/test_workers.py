"""Work shared with worker processes: PLEDGE_WORKERS, and shared_map's results, each item done
once, in order, whoever did it."""

import os
import subprocess
from functools import partial
from multiprocessing import get_context

import pytest

from pipelines.workers import shared_map, worker_count


@pytest.mark.parametrize(("value", "workers"), [("", None), ("1", 1), ("3", 3)])
def test_worker_count_comes_from_pledge_workers(monkeypatch, value, workers):
    monkeypatch.setenv("PLEDGE_WORKERS", value)
    assert worker_count() == (workers or min(2, os.cpu_count() or 1))


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_pledge_workers_must_be_a_positive_integer(monkeypatch, value):
    monkeypatch.setenv("PLEDGE_WORKERS", value)
    with pytest.raises(
        ValueError, match=f"PLEDGE_WORKERS must be a positive integer, not '{value}'"
    ):
        worker_count()


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_shared_map_gives_every_result_in_order(workers):
    assert shared_map(partial(pow, exp=2), list(range(40)), workers) == [n * n for n in range(40)]


def test_this_process_takes_items_from_the_front_and_a_spawned_one_from_the_back():
    """Each item reports the process that did it (the parent of its shell): this process from
    the first item on, the spawned one, once started, from the last item backwards."""
    item = ["sh", "-c", "sleep 0.05; echo $PPID"]
    pids = [int(out) for out in shared_map(subprocess.check_output, [item] * 60, 2)]
    mine = [pid == os.getpid() for pid in pids]
    assert mine[0] and not mine[-1]
    assert mine == sorted(mine, reverse=True)  # never interleaved: each item done once
    assert len(set(pids)) == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_item_fails_the_map(workers):
    with pytest.raises(ValueError, match="invalid literal"):
        shared_map(int, ["1", "2", "three", *"45678"], workers)


def test_a_daemonic_process_does_every_item_itself():
    """A pool's worker (daemonic, as Celery's are) may not start processes: shared_map there
    does the items alone instead of failing."""
    with get_context("spawn").Pool(1) as pool:
        squares = pool.apply(shared_map, (partial(pow, exp=2), list(range(10)), 2))
    assert squares == [n * n for n in range(10)]
