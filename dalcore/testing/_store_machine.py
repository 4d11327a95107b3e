"""A Hypothesis state machine comparing a persistent store with a plain dict.

Each machine run works under its own key prefix of the store under test, cleared at the start,
so runs do not see each other's keys and the test's fixture can hand over one store for all of
them. Keys come from a small set sharing prefixes, so overwrites, deletes of present keys and
prefix overlaps are frequent.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from dalcore.api import (
    Absent,
    Check,
    Delete,
    Exists,
    Operation,
    PersistentStore,
    Put,
    RevisionIs,
    ValueIs,
)
from dalcore.errors import AssertionFailedError, KeyNotFoundError

KEYS = ["a", "a/", "a/b", "a/b/c", "ab", "b", "b\u00e9", "\u00e9", "a\uffff", "\U0001f600", "a b"]
PREFIXES = ["", "a", "a/", "a/b", "b", "\u00e9", "\U0001f600", "z"]

MACHINE_SETTINGS = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_runs = itertools.count()
_keys = st.sampled_from(KEYS)
_values = st.binary(max_size=6)
_operations = st.lists(
    st.one_of(st.builds(Put, _keys, _values), st.builds(Delete, _keys)), max_size=4
)


class StoreMachine(RuleBasedStateMachine):
    """The store must answer exactly as a dict of key -> (value, revision) would."""

    def __init__(self, store: PersistentStore) -> None:
        super().__init__()
        self.store = store
        self.root = f"machine{next(_runs)}/"
        self.model: dict[str, tuple[bytes, int]] = {}
        self.revisions: list[int] = []
        self.last = 0

    @initialize()
    def clear(self) -> None:
        self.store.delete_prefix(self.root)

    def teardown(self) -> None:
        self.store.delete_prefix(self.root)

    def _wrote(self, revision: int) -> None:
        assert isinstance(revision, int) and revision > self.last, (revision, self.last)
        self.last = revision
        self.revisions.append(revision)

    @rule(key=_keys, value=_values)
    def set(self, key: str, value: bytes) -> None:
        revision = self.store.set(self.root + key, value)
        self._wrote(revision)
        self.model[key] = (value, revision)

    @rule(key=_keys)
    def delete(self, key: str) -> None:
        assert self.store.delete(self.root + key) == (key in self.model)
        self.model.pop(key, None)

    @rule(prefix=st.sampled_from(PREFIXES))
    def delete_prefix(self, prefix: str) -> None:
        doomed = [key for key in self.model if key.startswith(prefix)]
        assert self.store.delete_prefix(self.root + prefix) == len(doomed)
        for key in doomed:
            del self.model[key]

    def _check(self, data: st.DataObject) -> Check:
        key = data.draw(_keys)
        kind = data.draw(st.sampled_from(["value", "revision", "exists", "absent"]))
        if kind == "value":
            known = [self.model[key][0]] if key in self.model else []
            return ValueIs(key, data.draw(st.sampled_from([*known, b"", b"\x00"])))
        if kind == "revision":
            current = [self.model[key][1]] if key in self.model else []
            return RevisionIs(key, data.draw(st.sampled_from([*current, *self.revisions, 1])))
        return Exists(key) if kind == "exists" else Absent(key)

    def _holds(self, check: Check) -> bool:
        item = self.model.get(check.key)
        if isinstance(check, ValueIs):
            return item is not None and item[0] == check.value
        if isinstance(check, RevisionIs):
            return item is not None and item[1] == check.revision
        return (item is not None) == isinstance(check, Exists)

    @rule(operations=_operations, data=st.data())
    def commit(self, operations: list[Operation], data: st.DataObject) -> None:
        checks = [self._check(data) for _ in range(data.draw(st.integers(0, 3)))]
        failing = [check for check in checks if not self._holds(check)]
        real_ops: list[Operation] = [
            Put(self.root + op.key, op.value) if isinstance(op, Put) else Delete(self.root + op.key)
            for op in operations
        ]
        real_checks = [check._replace(key=self.root + check.key) for check in checks]
        if failing:
            try:
                self.store.commit(real_ops, real_checks)
            except AssertionFailedError as exc:
                failed = {check._replace(key=check.key[len(self.root) :]) for check in exc.failed}
                assert set(failing) <= failed <= set(checks), (failing, exc.failed)
                return
            raise AssertionError(f"commit applied although {failing} did not hold")
        revision = self.store.commit(real_ops, real_checks)
        if operations:
            self._wrote(revision)
        for op in operations:
            if isinstance(op, Put):
                self.model[op.key] = (op.value, revision)
            else:
                self.model.pop(op.key, None)

    @rule(keys=st.lists(_keys, max_size=4))
    def get(self, keys: list[str]) -> None:
        got = self.store.get_many([self.root + key for key in keys])
        assert [None if e is None else (e.value, e.revision) for e in got] == [
            self.model.get(key) for key in keys
        ]
        for key in keys:
            try:
                entry = self.store.get(self.root + key)
            except KeyNotFoundError:
                assert key not in self.model
            else:
                assert (entry.value, entry.revision) == self.model[key]

    @rule(prefix=st.sampled_from(PREFIXES), page_size=st.integers(1, 4))
    def scan(self, prefix: str, page_size: int) -> None:
        expected = sorted(item for item in self._flat() if item[0].startswith(prefix))
        scanned = self.store.scan(self.root + prefix, page_size=page_size)
        assert [(e.key[len(self.root) :], e.value, e.revision) for e in scanned] == expected
        keys = list(self.store.keys(self.root + prefix, page_size=page_size))
        assert keys == [self.root + item[0] for item in expected]

    @invariant()
    def whole_prefix_matches(self) -> None:
        scanned = [
            (e.key[len(self.root) :], e.value, e.revision) for e in self.store.scan(self.root)
        ]
        assert scanned == sorted(self._flat())

    def _flat(self) -> list[tuple[str, bytes, int]]:
        return [(key, value, revision) for key, (value, revision) in self.model.items()]


def run_store_machine(store: PersistentStore, **overrides: Any) -> None:
    """Run :class:`StoreMachine` against ``store`` (hypothesis ``settings`` in ``overrides``)."""
    # Typed differently across Hypothesis releases; called through Any to accept them all.
    run: Any = run_state_machine_as_test
    run(lambda: StoreMachine(store), settings=settings(MACHINE_SETTINGS, **overrides))
