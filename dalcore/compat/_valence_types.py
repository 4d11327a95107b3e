"""Valence's field validators (``valence.common.types``), with errors that say what was wrong.

Valence called them two ways, and both work here:

* on the class, options as extra arguments: ``types.Text.validate(v)``,
  ``types.Integer.validate(v, minimum=1)``, ``types.List.validate(v)`` (any list);
* on an instance, options given once: ``types.String(max_length=255).validate``,
  ``types.List(types.Dict).validate``.

``validate`` returns the (possibly normalised) value and raises :class:`InvalidValueError`,
a :class:`dalcore.ValidationError` and therefore a ``ValueError`` as Valence's were. A model
re-raises it as a ValidationError naming ``Model.field``.
"""

from __future__ import annotations

import copy
from typing import Any

from dalcore.errors import ValidationError

# List's parameter is called ``type`` as in Valence, which hides the builtin inside it.
_builtin_type = type

__all__ = [
    "Bool",
    "Custom",
    "Dict",
    "Integer",
    "InvalidValueError",
    "List",
    "String",
    "Text",
    "Validator",
]


class InvalidValueError(ValidationError):
    """A value a validator refused; ``validator`` is its type name, ``value`` the value."""

    def __init__(self, validator: str, message: str, value: Any) -> None:
        ValueError.__init__(self, f"{validator}: {message}")
        self.owner = validator
        self.field = ""
        self.validator = validator
        self.value = value


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


class _Validate:
    """``Cls.validate`` / ``obj.validate``: see the module docstring."""

    def __get__(self, obj: Validator | None, owner: type[Validator]) -> BoundValidate:
        if obj is None:
            return BoundValidate(owner(), owner)
        return BoundValidate(obj, None)


class BoundValidate:
    """A ``validate`` callable; ``validator`` is the validator it runs (for type mapping)."""

    __slots__ = ("configurable", "validator")

    def __init__(self, validator: Validator, configurable: type[Validator] | None) -> None:
        self.validator = validator
        # Only the class-level form takes options per call, as Valence's classmethods did.
        self.configurable = configurable

    def __call__(self, value: Any, *options: Any, **named: Any) -> Any:
        validator = self.validator
        if options or named:
            if self.configurable is None:
                raise TypeError(
                    f"{validator.type_name}.validate: options go to the constructor "
                    f"({type(validator).__name__}(...)), not to validate()"
                )
            validator = self.configurable(*options, **named)
        return validator.check(value)

    def __repr__(self) -> str:
        return f"<validate of {self.validator.type_name}>"


class Validator:
    """Base of the validator types; ``python_type`` is the dalcore property type it maps to."""

    python_type: type = object
    validate = _Validate()

    @property
    def type_name(self) -> str:
        return type(self).__name__

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def fail(self, message: str, value: Any) -> InvalidValueError:
        return InvalidValueError(self.type_name, message, value)


class Text(Validator):
    """Any string (or None)."""

    python_type = str

    def check(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        raise self.fail(f"expected a string, got {_shown(value)}", value)


class String(Validator):
    """A string whose length is within ``min_length`` .. ``max_length`` (or None)."""

    python_type = str

    def __init__(self, min_length: int = 0, max_length: int | None = None) -> None:
        self.min_length = min_length
        self.max_length = max_length

    @property
    def type_name(self) -> str:
        return f"String({self.min_length}, {self.max_length})"

    def check(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(f"expected a string, got {_shown(value)}", value)
        if len(value) < self.min_length:
            raise self.fail(
                f"{_shown(value)} has {len(value)} characters, fewer than the minimum "
                f"{self.min_length}",
                value,
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise self.fail(
                f"{_shown(value)} has {len(value)} characters, more than the maximum "
                f"{self.max_length}",
                value,
            )
        return value


class Integer(Validator):
    """An integer, at least ``minimum`` (or None); numeric strings are converted as in Valence."""

    python_type = int

    def __init__(self, minimum: int | None = None) -> None:
        self.minimum = minimum

    @property
    def type_name(self) -> str:
        return "Integer" if self.minimum is None else f"Integer(minimum={self.minimum})"

    def check(self, value: Any) -> Any:
        if value is None:
            return None
        # bool is an int subclass; Valence let True through as 1, which is never what was meant.
        if isinstance(value, bool):
            raise self.fail(f"expected an integer, got {_shown(value)}", value)
        number = value
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                raise self.fail(f"expected an integer, got {_shown(value)}", value) from None
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif not isinstance(value, int):
            raise self.fail(f"expected an integer, got {_shown(value)}", value)
        if self.minimum is not None and number < self.minimum:
            raise self.fail(f"{number} is smaller than the minimum {self.minimum}", value)
        return number


_TRUE = frozenset({"yes", "true", "t", "1", "on", "y"})
_FALSE = frozenset({"no", "false", "f", "0", "off", "n", ""})  # "": an empty form field, as Valence


class Bool(Validator):
    """A bool; the strings yes/true/t/1/on and no/false/f/0/off (and "") are converted.

    Valence turned every other string into False ("flase" -> False); here it is an error.
    None gives ``default`` (None unless told otherwise).
    """

    python_type = bool

    def __init__(self, default: bool | None = None) -> None:
        self.default = default

    def check(self, value: Any) -> Any:
        if value is None:
            return self.default
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        raise self.fail(f"expected a bool (or yes/no, true/false, 1/0), got {_shown(value)}", value)


class List(Validator):
    """A list whose items all pass ``type`` (a validator class or instance); None passes."""

    python_type = list

    def __init__(self, type: type[Validator] | Validator | None = None) -> None:
        if isinstance(type, Validator) or type is None:
            self.item: Validator | None = type
        elif isinstance(type, _builtin_type) and issubclass(type, Validator):
            self.item = type()
        else:
            raise TypeError(f"List(type): expected a validator type, got {type!r}")

    @property
    def type_name(self) -> str:
        return "List" if self.item is None else f"List({self.item.type_name})"

    def check(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.fail(f"expected a list, got {_shown(value)}", value)
        item = self.item
        if item is None:
            return value
        result = []
        for index, element in enumerate(value):
            try:
                result.append(item.check(element))
            except InvalidValueError as exc:
                raise self.fail(f"item {index}: {exc}", value) from None
        return result


class Custom(Validator):
    """An object of the application's own class ``user_class``, as Valence's ``Custom``: an
    instance passes as it is, a dict is turned into ``user_class(**dict)``; either way the
    instance is returned. A model field stores its JSON form (``as_dict()`` for a
    ``base.ObjectBase``, the public attributes of a plain object) and reads back that dict."""

    python_type = object

    def __init__(self, user_class: type) -> None:
        if not isinstance(user_class, _builtin_type):
            raise TypeError(f"Custom(user_class): expected a class, got {user_class!r}")
        self.user_class = user_class

    @property
    def type_name(self) -> str:
        return f"Custom({self.user_class.__name__})"

    def check(self, value: Any) -> Any:
        if value is None or isinstance(value, self.user_class):
            return value
        if isinstance(value, dict):
            try:
                return self.user_class(**value)
            except Exception as exc:
                raise self.fail(
                    f"{self.user_class.__name__}(**value) refused it: {exc}", value
                ) from None
        raise self.fail(f"expected a {self.user_class.__name__}, got {_shown(value)}", value)


class Dict(Validator):
    """A dict; None gives a fresh copy of ``default`` ({} unless told otherwise), as in Valence."""

    python_type = dict

    def __init__(self, default: dict[str, Any] | None = None) -> None:
        self.default = {} if default is None else default

    def check(self, value: Any) -> Any:
        if value is None:
            return copy.deepcopy(self.default)
        if not isinstance(value, dict):
            raise self.fail(f"expected a dict, got {_shown(value)}", value)
        return value
