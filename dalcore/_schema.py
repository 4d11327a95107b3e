"""What each hybrid class declares, worked out once, and the registry that finds hybrids by name.

:class:`HybridMeta` is everything the layers above need to know about a hybrid: its path, its
fields and their checks, its relations and their targets. The registry maps class names to
hybrids, records which hybrid a plugin's subclass replaces, and links relations to targets
declared later (``Relation('disks', 'Disk')`` before ``Disk`` exists).

This layer knows hybrids only as classes carrying a ``_meta``; it never imports the object
model. The object model hands down what it must do when a relation finds its target (install
the reverse attributes on the target) with :func:`set_reverse_installer`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dalcore._plugins import plugin_manager
from dalcore._structures import Dynamic, Property, Relation, make_check, unique_names
from dalcore.errors import ConfigurationError, DefinitionError


class HybridMeta:
    """Everything dalcore knows about one hybrid class, computed when the class is created."""

    def __init__(self, cls: type, path: str) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.path = path
        self.keyspace = path.strip("/")
        self.properties: dict[str, Property] = {}
        self.relations: dict[str, Relation] = {}
        self.dynamics: dict[str, Dynamic] = {}
        # field name (property, or "<relation>_guid") -> check; the stored document's fields
        self.checks: dict[str, Any] = {}
        # The same, for documents decoded from JSON: a list or dict there cannot hold NaN, a
        # tuple or a set, so only its type is checked (the walk costs microseconds per load).
        self.decode_checks: dict[str, Any] = {}
        self.entry_shape: Any = None  # _layout's quick check of cache entries, made on use
        self.mutable: list[str] = []  # list/dict properties, copied per instance
        self.indexed: list[Property] = []  # indexed (and unique) properties
        self.reverse: dict[str, tuple[type[Any], Relation]] = {}
        self.targets: dict[str, type[Any]] = {}
        self.prefix_cache: tuple[Any, str] | None = None  # (runtime, "ns/<path>/")
        self.explicit_path = False
        self.own_doc: str | None = None

    def target(self, relation: str) -> type[Any]:
        target = self.targets.get(relation)
        if target is None:
            resolve_pending()
            target = self.targets.get(relation)
            if target is None:
                wanted = self.relations[relation].target
                raise DefinitionError(f"{self.name}.{relation}: target {wanted!r} is not defined")
        return replacement(target)


def is_hybrid(cls: Any) -> bool:
    """True for a hybrid class (a DataObject subclass; DataObject itself has no ``_meta``)."""
    return isinstance(cls, type) and isinstance(cls.__dict__.get("_meta"), HybridMeta)


def _guid_check(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a guid (str), got {type(value).__name__} {value!r}")


def _collect(cls: type, kind: str) -> list[Any]:
    """The class-private list ``__<kind>`` of ``cls`` and its hybrid bases, base first."""
    items: list[Any] = []
    for klass in reversed(cls.__mro__):
        mangled = f"_{klass.__name__.lstrip('_')}__{kind}"
        own = klass.__dict__.get(mangled)
        if own is None:
            continue
        if not isinstance(own, (list, tuple)):
            raise DefinitionError(f"{klass.__name__}.__{kind} must be a list, not {own!r}")
        replaced = {item.name for item in own}
        items = [item for item in items if item.name not in replaced] + list(own)
    return items


def build_meta(cls: type, reserved: set[str]) -> HybridMeta:
    """Read a new hybrid class's path and declarations (``reserved``: names DataObject uses)."""
    explicit_path = "path" in cls.__dict__
    path = cls.__dict__.get("path") or cls.__name__.lower()
    if not isinstance(path, str) or not path.strip("/"):
        raise DefinitionError(f"{cls.__name__}.path must be a non-empty string: {path!r}")
    meta = HybridMeta(cls, path)
    meta.explicit_path = explicit_path
    meta.own_doc = cls.__dict__.get("__doc__")
    properties = _collect(cls, "properties")
    relations = _collect(cls, "relations")
    dynamics = _collect(cls, "dynamics")
    unique_names(cls.__name__, [properties, relations, dynamics])
    for kind, items, expected in (
        ("__properties", properties, Property),
        ("__relations", relations, Relation),
        ("__dynamics", dynamics, Dynamic),
    ):
        for item in items:
            if not isinstance(item, expected):
                raise DefinitionError(
                    f"{cls.__name__}.{kind}: expected {expected.__name__}, got {item!r}"
                )
    for item in [*properties, *relations, *dynamics]:
        if item.name in reserved:
            raise DefinitionError(f"{cls.__name__}.{item.name}: name is used by DataObject")
    for prop in properties:
        meta.properties[prop.name] = prop
        meta.checks[prop.name] = make_check(cls.__name__, prop.name, prop.type)
        structured = prop.type in (list, dict, object)
        meta.decode_checks[prop.name] = (
            make_check(cls.__name__, prop.name, prop.type, decoded=True)
            if structured
            else meta.checks[prop.name]
        )
        if structured:
            meta.mutable.append(prop.name)
        if prop.indexed:
            if structured:
                raise DefinitionError(
                    f"{cls.__name__}.{prop.name}: list, dict and object properties cannot "
                    "be indexed"
                )
            meta.indexed.append(prop)
    for rel in relations:
        meta.relations[rel.name] = rel
        if rel.name + "_guid" in meta.checks:
            raise DefinitionError(f"{cls.__name__}: {rel.name}_guid clashes with a property")
        meta.checks[rel.name + "_guid"] = _guid_check
        meta.decode_checks[rel.name + "_guid"] = _guid_check
    for dyn in dynamics:
        meta.dynamics[dyn.name] = dyn
    # Reverse sides this class inherited from a hybrid base stay valid for it too.
    for base in cls.__mro__[1:]:
        base_meta = base.__dict__.get("_meta")
        if isinstance(base_meta, HybridMeta):
            for name, link in base_meta.reverse.items():
                meta.reverse.setdefault(name, link)
    return meta


# -- the registry -------------------------------------------------------------------------

registry_lock = threading.RLock()
by_name: dict[str, type[Any]] = {}  # class name (and qualified name) -> hybrid
#: hybrid -> the registered subclass that stands for it (read directly on the hot path)
replacements: dict[type[Any], type[Any]] = {}
_pending: list[tuple[type[Any], Relation]] = []  # relations whose target is not defined yet
# Short names that two different hybrids have: looking one up is an error naming both.
_ambiguous: dict[str, list[str]] = {}

#: (source, relation, target) -> None: installs the reverse side on the target class.
ReverseInstaller = Callable[[type[Any], Relation, type[Any]], None]
_install_reverse: ReverseInstaller | None = None


def set_reverse_installer(install: ReverseInstaller) -> None:
    """Called once by the object model, which owns the attributes a reverse side adds."""
    global _install_reverse
    _install_reverse = install


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls: type[Any]) -> None:
    """Add a new hybrid class: findable by name, its relations linked (now or when their
    targets are defined)."""
    with registry_lock:
        _register_name(cls)
        for rel in cls._meta.relations.values():
            _pending.append((cls, rel))
        resolve_pending()


def _register_name(cls: type[Any]) -> None:
    """Make ``cls`` findable by its qualified name and, while no other hybrid has it, by its
    class name. (Caller holds the registry lock.) A class defined again under the same
    qualified name (a module reloaded, a function run twice) replaces its earlier self."""
    name, full = cls.__name__, qualified(cls)
    by_name[full] = cls
    if name in _ambiguous:
        if full not in _ambiguous[name]:
            _ambiguous[name].append(full)
        return
    other = by_name.get(name)
    if other is not None and qualified(other) != full:
        _ambiguous[name] = [qualified(other), full]
        del by_name[name]
        return
    by_name[name] = cls


def _by_short_name(name: str, wanted_by: str) -> type[Any] | None:
    if name in _ambiguous:
        raise DefinitionError(
            f"{wanted_by}: {name!r} names several hybrids ({', '.join(_ambiguous[name])}); "
            "use the qualified name or the class itself"
        )
    return by_name.get(name)


def resolve_pending() -> None:
    """Link relations to their targets once the targets exist; install the reverse sides."""
    with registry_lock:
        waiting: list[tuple[type[Any], Relation]] = []
        for source, relation in list(_pending):
            wanted = relation.target
            target: Any
            if wanted is None:
                target = source
            elif isinstance(wanted, str):
                try:
                    target = _by_short_name(wanted, f"{source.__name__}.{relation.name}")
                except DefinitionError:
                    _pending.remove((source, relation))  # as for any bad target, below
                    raise
            else:
                target = wanted
            if target is None:
                waiting.append((source, relation))
                continue
            try:
                if not is_hybrid(target):
                    raise DefinitionError(
                        f"{source.__name__}.{relation.name}: target must be a hybrid, "
                        f"not {target!r}"
                    )
                _link(source, relation, target)
            except DefinitionError:
                # Forget it: left pending, it would fail every later class creation.
                _pending.remove((source, relation))
                raise
        _pending[:] = waiting


def _link(source: type[Any], relation: Relation, target: type[Any]) -> None:
    source._meta.targets[relation.name] = target
    name = relation.reverse_name
    suffix = "_guid" if relation.onetoone else "_guids"
    meta: HybridMeta = target._meta
    existing = meta.reverse.get(name)
    if existing is not None and existing != (source, relation):
        if existing[1] is relation:
            return  # inherited by a subclass of the source: the base's entry serves it
        raise DefinitionError(
            f"{target.__name__}.{name}: reverse relation declared twice "
            f"({existing[0].__name__}.{existing[1].name} and {source.__name__}.{relation.name})"
        )
    for taken in (name, name + suffix):
        if taken in meta.checks or taken in meta.relations or taken in meta.dynamics:
            raise DefinitionError(
                f"{source.__name__}.{relation.name}: reverse name {taken!r} clashes with a field "
                f"of {target.__name__}"
            )
    meta.reverse[name] = (source, relation)
    for klass in [target, *subclasses(target)]:
        klass._meta.reverse.setdefault(name, (source, relation))
    if _install_reverse is None:
        raise ConfigurationError("the object model has not registered its reverse installer")
    _install_reverse(source, relation, target)


def subclasses(cls: type[Any]) -> list[type[Any]]:
    found: list[type[Any]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(subclasses(sub))
    return found


def replacement(cls: type[Any]) -> type[Any]:
    """The class that stands for ``cls``: the plugin hybrid registered to replace it, or itself."""
    return replacements.get(cls, cls)


def register_hybrid(cls: type[Any]) -> None:
    """Make ``cls`` replace each hybrid it subclasses: construction, relations and queries.

    A replacement keeps its base's storage path unless it sets one itself.
    """
    if not is_hybrid(cls):
        raise DefinitionError(f"register_hybrid needs a DataObject subclass, got {cls!r}")
    with registry_lock:
        meta: HybridMeta = cls.__dict__["_meta"]
        for base in cls.__mro__[1:]:
            if not is_hybrid(base):
                continue
            replacements[base] = cls
            if not meta.explicit_path:
                base_meta: HybridMeta = base.__dict__["_meta"]
                setattr(cls, "path", base_meta.path)  # noqa: B010 - a hybrid's class attribute
                meta.path = base_meta.path
                meta.keyspace = base_meta.keyspace
                meta.prefix_cache = None


def unregister_hybrid(cls: type[Any]) -> None:
    """Undo :func:`register_hybrid`: the hybrids ``cls`` replaced are themselves again."""
    with registry_lock:
        for base, replaced_by in list(replacements.items()):
            if replaced_by is cls:
                del replacements[base]


def hybrid(name: str) -> type[Any]:
    """The hybrid class called ``name`` (after plugin replacements): its class name, or
    ``module.Class``, which two hybrids sharing a class name need (the class name alone then
    raises DefinitionError naming both)."""
    with registry_lock:
        cls = _by_short_name(name, "dalcore.hybrid()")
    if cls is None:
        raise DefinitionError(f"no hybrid named {name!r}")
    return replacement(cls)


def adopt_plugin_hybrids() -> None:
    """Register the hybrids plugins contribute; one subclassing another hybrid replaces it."""
    for contributed in plugin_manager().hook.dalcore_hybrids():
        for cls in contributed or ():
            if not is_hybrid(cls):
                raise ConfigurationError(f"a plugin contributed {cls!r}, which is not a hybrid")
            if any(is_hybrid(base) for base in cls.__bases__):
                register_hybrid(cls)
