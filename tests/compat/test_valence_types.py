"""Valence's validator types: what they accept, how they normalise, how clearly they refuse."""

from __future__ import annotations

from typing import Any

import pytest

import dalcore
from dalcore.compat.valence import InvalidValueError, base, types


def refused(validate: Any, value: Any, *options: Any, **named: Any) -> InvalidValueError:
    with pytest.raises(InvalidValueError) as caught:
        validate(value, *options, **named)
    error = caught.value
    # Valence's callers catch ValueError; dalcore's catch DalcoreError / ValidationError.
    assert isinstance(error, ValueError)
    assert isinstance(error, dalcore.ValidationError)
    assert error.value is value
    return error


def test_text() -> None:
    assert types.Text.validate("rack-1") == "rack-1"
    assert types.Text.validate(None) is None
    error = refused(types.Text.validate, 42)
    assert str(error) == "Text: expected a string, got int 42"


def test_string_lengths_on_the_class_and_on_an_instance() -> None:
    assert types.String.validate("abc", min_length=1, max_length=3) == "abc"
    assert types.String(max_length=3).validate("abc") == "abc"
    assert types.String(2).validate(None) is None
    short = refused(types.String(min_length=2).validate, "a")
    assert "fewer than the minimum 2" in str(short) and "'a'" in str(short)
    long = refused(types.String.validate, "abcd", 0, 3)
    assert "4 characters, more than the maximum 3" in str(long)
    assert "String(0, 3)" in str(long)
    assert "expected a string" in str(refused(types.String.validate, ["a"]))


def test_integer_converts_like_valence_but_refuses_bools_and_fractions() -> None:
    assert types.Integer.validate(7) == 7
    assert types.Integer.validate(" 7 ") == 7
    assert types.Integer.validate(7.0) == 7
    assert types.Integer.validate(None) is None
    assert "got str 'seven'" in str(refused(types.Integer.validate, "seven"))
    assert "got bool True" in str(refused(types.Integer.validate, True))
    assert "got float 7.5" in str(refused(types.Integer.validate, 7.5))


def test_integer_minimum() -> None:
    assert types.Integer(minimum=1).validate(1) == 1
    assert types.Integer.validate("3", minimum=1) == 3
    error = refused(types.Integer(minimum=1).validate, 0)
    assert str(error) == "Integer(minimum=1): 0 is smaller than the minimum 1"


def test_bool_words_and_default() -> None:
    for word in ("yes", "TRUE", "t", "1", "on"):
        assert types.Bool.validate(word) is True
    for word in ("no", "False", "f", "0", "off"):
        assert types.Bool.validate(word) is False
    assert types.Bool.validate(False) is False
    assert types.Bool.validate(None) is None
    assert types.Bool.validate(None, default=True) is True
    # Valence turned every unknown word into False; a typo is an error here.
    assert "got str 'flase'" in str(refused(types.Bool.validate, "flase"))
    assert "got int 2" in str(refused(types.Bool.validate, 2))


def test_list_of_a_type_names_the_bad_item() -> None:
    items = [{"type": "basic"}, "admin:admin"]
    assert types.List(types.Dict).validate([{}, {"a": 1}]) == [{}, {"a": 1}]
    assert types.List(types.Integer(minimum=0)).validate(["1", 2]) == [1, 2]
    assert types.List.validate([1, "x"]) == [1, "x"]  # Valence's Flavor used it unbound
    assert types.List(types.Text).validate(None) is None
    error = refused(types.List(types.Dict).validate, items)
    assert str(error) == "List(Dict): item 1: Dict: expected a dict, got str 'admin:admin'"
    assert "expected a list" in str(refused(types.List(types.Text).validate, "abc"))
    with pytest.raises(TypeError, match="expected a validator type"):
        types.List(int)  # type: ignore[arg-type]


def test_dict_default_is_a_fresh_copy() -> None:
    first = types.Dict.validate(None)
    assert first == {}
    first["changed"] = True
    assert types.Dict.validate(None) == {}
    assert types.Dict.validate(None, default={"a": 1}) == {"a": 1}
    assert "got list [1]" in str(refused(types.Dict.validate, [1]))


def test_instance_validate_takes_no_options() -> None:
    with pytest.raises(TypeError, match="options go to the constructor"):
        types.String(1).validate("abc", 5)


def test_long_values_are_shortened_in_messages() -> None:
    error = refused(types.Text.validate, list(range(100)))
    assert len(str(error)) < 140 and str(error).endswith("...")


class Location:
    """An application class, as Valence's types.Custom validates."""

    def __init__(self, rack: str, slot: int) -> None:
        if slot < 0:
            raise ValueError("slot must not be negative")
        self.rack, self.slot = rack, slot


def test_custom_builds_the_class_from_a_dict() -> None:
    custom = types.Custom(Location)
    built = custom.validate({"rack": "r1", "slot": 3})
    assert isinstance(built, Location) and (built.rack, built.slot) == ("r1", 3)
    assert custom.validate(built) is built
    assert custom.validate(None) is None
    with pytest.raises(InvalidValueError, match=r"Custom\(Location\).*slot must not be negative"):
        custom.validate({"rack": "r1", "slot": -1})
    with pytest.raises(InvalidValueError, match=r"expected a Location"):
        custom.validate("r1/3")
    items = types.List(types.Custom(Location))
    [only] = items.validate([{"rack": "a", "slot": 1}])
    assert isinstance(only, Location) and only.rack == "a"
    with pytest.raises(InvalidValueError, match="item 1"):
        items.validate([{"rack": "a", "slot": 1}, {"rack": "b"}])


# -- the cases of Valence's own unit tests (valence/tests/unit/common/test_types.py) -------------


class Labelled(base.ObjectBase):
    """An API object as Valence declared them: validated fields, rendered by as_dict()."""

    fields = {"label": {"validate": types.String(max_length=8).validate}}


def test_string_bounds_are_inclusive() -> None:
    word = "eight ch"
    assert types.String.validate(word, min_length=len(word)) == word
    assert types.String.validate(word, max_length=len(word)) == word
    assert types.String.validate(word, min_length=0, max_length=len(word) + 1) == word
    refused(types.String.validate, word, len(word) + 1)
    refused(types.String.validate, word, 0, len(word) - 1)
    refused(types.String.validate, 8)


def test_integer_minimum_is_inclusive_and_strings_are_parsed() -> None:
    assert types.Integer.validate("12") == 12
    assert types.Integer.validate(12, minimum=12) == 12
    refused(types.Integer.validate, 12, 13)
    refused(types.Integer.validate, "1.5")
    refused(types.Integer.validate, "twelve")


def test_bool_words_valence_accepted() -> None:
    assert types.Bool.validate(None, default=True) is True
    for word in ("True", "true", "t", "yes", "1"):
        assert types.Bool.validate(word) is True
    for word in ("False", "", "0"):
        assert types.Bool.validate(word) is False
    refused(types.Bool.validate, 0)  # an int is not a bool, as in Valence


def test_dict_default_and_refusals() -> None:
    assert types.Dict.validate(None) == {} and types.Dict.validate(None, default={}) == {}
    assert types.Dict.validate({"k": "v"}) == {"k": "v"}
    for value in ("text", 7, []):
        refused(types.Dict.validate, value)


def test_custom_of_an_object_base_class() -> None:
    custom = types.Custom(Labelled)
    given = Labelled(label="rack")
    assert custom.validate(given) is given
    built = custom.validate({"label": "rack"})
    assert isinstance(built, Labelled) and built.as_dict() == {"label": "rack"}
    assert built["label"] == "rack"
    with pytest.raises(InvalidValueError, match=r"Custom\(Labelled\).*String\(0, 8\)"):
        custom.validate({"label": "far too long"})
    refused(custom.validate, "rack")
    [item] = types.List(types.Custom(Labelled)).validate([{"label": "a"}])
    assert isinstance(item, Labelled) and item.as_dict() == {"label": "a"}
    assert types.List(types.Custom(Labelled)).validate(None) is None


def test_object_base_validates_assignments_and_renders_nested_objects() -> None:
    class Shelf(base.ObjectBase):
        fields = {
            "name": {"validate": types.Text.validate},
            "items": {"validate": types.List(types.Custom(Labelled)).validate},
        }

    shelf = Shelf(name="top", items=[{"label": "a"}], ignored=1)
    assert shelf.as_dict() == {"name": "top", "items": [{"label": "a"}]}
    assert Shelf().as_dict() == {}
    with pytest.raises(InvalidValueError):
        shelf.name = 3
    shelf.update({"name": "bottom"})
    assert shelf["name"] == "bottom" and shelf == Shelf(name="bottom", items=[{"label": "a"}])
