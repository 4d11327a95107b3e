"""Valence ``fields`` declarations turned into checks and dalcore property types."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from dalcore.compat import _credentials
from dalcore.compat._valence_base import to_json
from dalcore.compat._valence_types import InvalidValueError, Validator
from dalcore.errors import DefinitionError, ValidationError

#: Keys of a field declaration that are options. A key whose value is a dict declares a sub-field
#: instead (a dict value validated key by key, as Valence's Flavor.properties declared memory /
#: processor / pci_device, whose own sub-fields include one called "type").
OPTIONS = frozenset({"validate", "store_as", "credentials", "doc"})
PROPERTY_TYPES = (str, int, float, bool, list, dict, object)


@dataclasses.dataclass(frozen=True)
class Field:
    """One compiled field: its validator, the dalcore type it is stored as, its sub-fields."""

    validate: Callable[[Any], Any]
    python_type: type
    type_name: str
    nested: dict[str, Field]
    credentials: bool
    doc: str | None


def compile_field(owner: str, name: str, spec: Any) -> Field:
    """Check a declaration (``{'validate': ..., ...}``) once, when the model class is made."""
    where = f"{owner}.fields[{name!r}]"
    if not isinstance(spec, dict):
        raise DefinitionError(f"{where}: expected a dict like {{'validate': ...}}, got {spec!r}")
    validate = spec.get("validate")
    if not callable(validate):
        raise DefinitionError(f"{where}: 'validate' must be a callable, got {validate!r}")
    validator = getattr(validate, "validator", None)
    explicit = spec.get("store_as")
    if explicit is not None:
        python_type = explicit
    elif isinstance(validator, Validator):
        python_type = validator.python_type
    else:
        # A validator of the application's own: whatever JSON value it accepts is stored.
        python_type = object
    if python_type not in PROPERTY_TYPES:
        raise DefinitionError(
            f"{where}: 'store_as' must be str, int, float, bool, list, dict or object"
        )
    nested: dict[str, Field] = {}
    for key, sub in spec.items():
        if key in OPTIONS and not isinstance(sub, dict):
            continue
        if not isinstance(sub, dict):
            raise DefinitionError(
                f"{where}: unknown option {key!r} (options: {', '.join(sorted(OPTIONS))}; "
                "a dict value declares a sub-field)"
            )
        nested[key] = compile_field(owner, f"{name}.{key}", sub)
    if nested and python_type is not dict:
        raise DefinitionError(f"{where}: sub-fields need a dict field, not {python_type.__name__}")
    credentials = bool(spec.get("credentials", False))
    if credentials and python_type is not list:
        raise DefinitionError(f"{where}: 'credentials' needs a list field (Valence's shape)")
    type_name = validator.type_name if isinstance(validator, Validator) else repr(validate)
    doc = spec.get("doc")
    return Field(validate, python_type, type_name, nested, credentials, doc)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 80 else text[:77] + '...'}"


def check(owner: str, path: str, field: Field, value: Any) -> Any:
    """The validated value of ``owner.path``; ValidationError naming the field otherwise."""
    try:
        value = field.validate(value)
    except (ValueError, TypeError) as exc:
        if field.credentials:
            raise ValidationError(
                owner,
                path,
                f"does not pass {field.type_name} (value not shown: it may hold credentials)",
            ) from None
        if isinstance(exc, InvalidValueError):
            message = str(exc)
        else:  # a project's own validator: its message may not show the value, so add it
            message = f"{exc} (value: {_shown(value)})"
        raise ValidationError(owner, path, message, value) from None
    # A validator may return objects (types.Custom builds the application's class): the model
    # stores their JSON form.
    value = to_json(value)
    if field.nested and isinstance(value, dict):
        value = dict(value)
        for key, sub in field.nested.items():
            if key in value:
                value[key] = check(owner, f"{path}.{key}", sub, value[key])
    if field.credentials:
        _credentials.check_authentication(owner, path, value)
    return value
