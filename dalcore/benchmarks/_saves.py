"""Group ``saves``: one-field saves and bulk saves in one transaction, per store."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import dalcore
from dalcore import _layout
from dalcore.api import Put, RevisionIs
from dalcore.benchmarks._common import configured, needs, object_key, stored_item
from dalcore.benchmarks._env import Environment
from dalcore.benchmarks._harness import loop, measure
from dalcore.benchmarks._model import BenchItem, make_item
from dalcore.benchmarks._results import (
    OVS_ONE_FIELD_SAVE,
    Result,
    faster_than,
    pending,
    ratio_at_most,
    ten_x_ovs,
    timed,
)

_STATUSES = ("RUNNING", "STOPPED")


def _stores(env: Environment) -> list[tuple[str, Callable[[], str]]]:
    return [
        ("memory", lambda: "memory://"),
        ("SQLite", lambda: f"sqlite://{env.scratch('saves.db')}"),
        ("etcd", env.etcd),
        ("Redis", env.redis),
    ]


def saves(env: Environment) -> Iterator[Result]:
    for name, url_of in _stores(env):
        yield from _one_field(env, name, url_of)
    for name, url_of in _stores(env):
        yield from _bulk(env, name, url_of)


def _one_field(env: Environment, name: str, url_of: Callable[[], str]) -> Iterator[Result]:
    group, case = "saves", f"one-field save ({name} store, in-process cache)"
    url, skip = needs(group, case, url_of)
    if skip is not None:
        yield skip
        return
    with configured(url, "memory://") as rt:
        item = stored_item(1)
        flips = [0]

        def save() -> None:
            flips[0] += 1
            item.status = _STATUSES[flips[0] % 2]
            item.save()

        # The baseline writes another object's key, so the two never conflict.
        other = stored_item(2)
        key = object_key(rt, other)
        documents = []
        for status in _STATUSES:
            other.status = status
            documents.append(_layout.encode(other._document()))
        store = rt.store
        revision = [store.get(key).revision]

        def commit() -> None:
            flips[0] += 1
            revision[0] = store.commit(
                [Put(key, documents[flips[0] % 2])], [RevisionIs(key, revision[0])]
            )

        measured = measure(
            env.settings,
            loop(save),
            {"store.commit of the same bytes with the same revision check": loop(commit)},
        )
        targets = {
            "memory": [ten_x_ovs(OVS_ONE_FIELD_SAVE, "one-field save")],
            "Redis": [
                ratio_at_most(1.3, "the store's own commit (one Lua call) of the same bytes")
            ],
        }.get(name, [])
        yield timed(group, case, measured, targets)


def _bulk(env: Environment, name: str, url_of: Callable[[], str]) -> Iterator[Result]:
    group = "saves"
    count = env.settings.sizes["bulk"]
    case = f"bulk save of {count} objects in one transaction ({name} store)"
    target = faster_than(5, f"{count} single saves")
    transaction = getattr(dalcore, "transaction", None)
    if transaction is None:
        yield pending(group, case, "dalcore.transaction() (issue 4)", [target])
        return
    url, skip = needs(group, case, url_of)
    if skip is not None:
        yield skip
        return
    with configured(url, "memory://"):
        items = [make_item(index) for index in range(count)]
        flips = [0]

        def change_all() -> None:
            flips[0] += 1
            for item in items:
                item.status = _STATUSES[flips[0] % 2]

        def bulk(n: int) -> float:
            total = 0.0
            for _ in range(n):
                change_all()
                total += _timed_block(lambda: _save_all(items, transaction))
            return total

        def single(n: int) -> float:
            total = 0.0
            for _ in range(n):
                change_all()
                total += _timed_block(lambda: _save_all(items, None))
            return total

        # Each batch saves every object once; fewer repeats than the fast cases.
        settings = dataclasses.replace(
            env.settings,
            repeats=3 if env.settings.quick else 5,
            warmup_batches=min(env.settings.warmup_batches, 1),
        )
        measured = measure(settings, bulk, {f"{count} single saves": single}, ops=1)
        yield timed(group, case, measured, [target], objects=count)


def _save_all(items: list[BenchItem], transaction: Callable[[], object] | None) -> None:
    if transaction is None:
        for item in items:
            item.save()
        return
    with transaction():  # type: ignore[attr-defined,unused-ignore]
        for item in items:
            item.save()


def _timed_block(block: Callable[[], None]) -> float:
    started = time.perf_counter()
    block()
    return time.perf_counter() - started
