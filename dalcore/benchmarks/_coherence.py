"""Group ``coherence``: what the cross-process guarantees cost (docs/consistency.md).

* the read barrier on a cached load: SQLite (one ``PRAGMA data_version``) and etcd (one round
  trip), against the same in-process cache hit without a barrier (the memory store needs none);
* hot objects: a save followed by loads of the saved object, against the same loads after a
  save of another object (with holds that blocked the cache, the first was several times
  slower);
* contention: 8 processes saving their own field of one etcd object; how many saves gave up.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

import dalcore
from dalcore import DataObject, Property
from dalcore.benchmarks._common import NAMESPACE, cached_object_key, configured, needs, stored_item
from dalcore.benchmarks._env import Environment
from dalcore.benchmarks._harness import Stat, loop, measure
from dalcore.benchmarks._model import BenchItem
from dalcore.benchmarks._results import (
    OVS_CACHED_LOAD,
    Result,
    Target,
    ratio_at_most,
    ten_x_ovs,
    timed,
)
from dalcore.errors import RaceConditionError

#: Loads after each save in the hot-object cases (an object read many times a second).
READS_PER_SAVE = 20
WRITERS = 8
SAVES_PER_WRITER = 60


def coherence(env: Environment) -> Iterator[Result]:
    group = "coherence"
    yield from _barrier(env, "SQLite", lambda: f"sqlite://{env.scratch('barrier.db')}")
    yield from _barrier(env, "etcd", env.etcd)
    yield from _hot(env, "memory store, in-process cache", lambda: ("memory://", "memory://"))
    yield from _hot(env, "etcd, memcached", lambda: (env.etcd(), env.memcached_url("hot")))
    case = f"{WRITERS} processes saving their own field of one etcd object"
    url, skip = needs(group, case, env.etcd)
    if skip is not None:
        yield skip
    else:
        yield _contention(url, case)


def _barrier(env: Environment, name: str, store_url: Callable[[], str]) -> Iterator[Result]:
    group, case = "coherence", f"object load: {name} store, in-process cache hit (read barrier)"
    url, skip = needs(group, case, store_url)
    if skip is not None:
        yield skip
        return
    with configured(url, "memory://") as rt:
        guid = stored_item().guid
        key = cached_object_key(rt, BenchItem(guid))
        BenchItem(guid)  # fills the cache
        cache = rt.cache
        measured = measure(
            env.settings,
            loop(lambda: BenchItem(guid)),
            {"in-process cache get (already decoded)": loop(lambda: cache.get(key))},
        )
    targets = [ten_x_ovs(OVS_CACHED_LOAD, "cached object load")] if name == "SQLite" else []
    yield timed(group, case, measured, targets)


def _hot(env: Environment, name: str, urls: Callable[[], tuple[str, str]]) -> Iterator[Result]:
    group = "coherence"
    case = f"save, then {READS_PER_SAVE} loads of the saved object ({name})"
    pair, skip = needs(group, case, urls)
    if skip is not None:
        yield skip
        return
    store, cache = pair
    with configured(store, cache):
        item, other = stored_item(1), stored_item(2)
        flips = [0]

        def save_then_read(saved: Any) -> Callable[[], None]:
            def run() -> None:
                flips[0] += 1
                saved.size = flips[0]
                saved.save()
                for _ in range(READS_PER_SAVE):
                    BenchItem(item.guid)

            return run

        measured = measure(
            env.settings,
            loop(save_then_read(item)),
            {"the same, saving another object": loop(save_then_read(other))},
        )
    yield timed(group, case, measured, [ratio_at_most(1.3, "the same loads after another save")])


def _contention(url: str, case: str) -> Result:
    item = _fresh(url)
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(WRITERS), context.Queue()
    writers = [
        context.Process(target=_writer, args=(barrier, answers, url, item, f"w{i}"), daemon=True)
        for i in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    gave_up = [answers.get(timeout=600) for _ in writers]
    for writer in writers:
        writer.join(30)
    total = WRITERS * SAVES_PER_WRITER
    succeeded = total / (total + sum(gave_up))
    return Result(
        "coherence",
        case,
        unit="share of save() calls that succeeded",
        subject=Stat([succeeded]),
        targets=[Target("> 99% succeed (< 1% give up)", lambda r: succeeded > 0.99)],
        extra={
            "saves": total,
            "gave up (RaceConditionError, redone)": sum(gave_up),
            "default save_attempts": dalcore.runtime().save_attempts,
        },
    )


class BenchCounters(DataObject):
    """One counter per contending writer."""

    __properties = [Property(f"w{index}", int, default=0) for index in range(WRITERS)]


def _fresh(url: str) -> str:
    with configured(url, "memory://"):
        counters = BenchCounters()
        counters.save()
        return str(counters.guid)


def _writer(barrier: Any, answers: Any, url: str, guid: str, field: str) -> None:
    """Increment one's own counter ``SAVES_PER_WRITER`` times; return how often a save gave up
    (RaceConditionError: refused, nothing written, redone on a fresh load)."""
    dalcore.configure(url, "memory://", namespace=NAMESPACE, hybrids=())
    barrier.wait(60)
    gave_up = done = 0
    while done < SAVES_PER_WRITER:
        counters = BenchCounters(guid)
        setattr(counters, field, getattr(counters, field) + 1)
        try:
            counters.save()
        except RaceConditionError:
            gave_up += 1
            continue
        done += 1
    answers.put(gave_up)
