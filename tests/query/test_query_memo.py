"""Compiled queries are remembered under a frozen copy of their arguments: two arguments may
share a frozen form only when they are the same value of the same types all the way down."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dalcore import Operator, WhereOperator
from dalcore._datalist import _freeze

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.text(max_size=3),
    st.sampled_from(list(Operator) + list(WhereOperator)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), inner, max_size=3),
        st.fixed_dictionaries({"type": inner, "items": inner}),
    ),
    max_leaves=8,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types at every level (1, 1.0 and True are three values here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(values, values)
def test_frozen_forms_are_equal_exactly_when_the_values_are_the_same(a: Any, b: Any) -> None:
    assert (_freeze(a) == _freeze(b)) == same(a, b)


@given(values)
def test_a_copy_freezes_to_the_same_hashable_form(value: Any) -> None:
    frozen = _freeze(value)
    assert frozen == _freeze(copy.deepcopy(value))
    assert hash(frozen) == hash(_freeze(copy.deepcopy(value)))


def test_numbers_of_other_types_and_sequences_of_other_kinds_differ() -> None:
    forms = [_freeze(v) for v in (1, 1.0, True, "1", [1], (1,), {"a": 1}, {"a": True})]
    assert len(set(forms)) == len(forms)
