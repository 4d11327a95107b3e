"""The docstring each hybrid gets: its own text, then its fields, both sides of its relations."""

from __future__ import annotations

from typing import Any

from dalcore._structures import type_name


def hybrid_docstring(cls: Any) -> str:
    meta = cls._meta
    lines = [(meta.own_doc or f"The {cls.__name__} hybrid.").strip(), ""]
    lines.append(f"Stored under path {meta.path!r}.")
    if meta.properties:
        lines += ["", "Properties:"]
        for prop in meta.properties.values():
            flags = [
                flag
                for flag, on in (
                    ("optional", not prop.mandatory),
                    ("unique", prop.unique),
                    ("indexed", prop.indexed and not prop.unique),
                )
                if on
            ]
            extra = f" [{', '.join(flags)}]" if flags else ""
            default = f", default {prop.default!r}" if prop.default is not None else ""
            lines.append(
                f"    {prop.name} ({type_name(prop.type)}{default}){extra}: {prop.doc or ''}"
            )
    if meta.relations:
        lines += ["", "Relations:"]
        for rel in meta.relations.values():
            target = getattr(rel.target, "__name__", rel.target) or cls.__name__
            side = "one-to-one" if rel.onetoone else "many-to-one"
            lines.append(
                f"    {rel.name} -> {target} ({side}; reverse: {target}.{rel.reverse_name}): "
                f"{rel.doc or ''}"
            )
    if meta.reverse:
        lines += ["", "Reverse relations (objects linking here):"]
        for name, (source, rel) in meta.reverse.items():
            kind = "single object" if rel.onetoone else "list"
            lines.append(
                f"    {name} ({kind} of {source.__name__}, "
                f"via {source.__name__}.{rel.name}): {rel.doc or ''}"
            )
    if meta.dynamics:
        lines += ["", "Dynamics:"]
        for dyn in meta.dynamics.values():
            timing = "never cached" if dyn.timeout == 0 else f"cached {dyn.timeout}s"
            locked = ", locked" if dyn.locked else ""
            lines.append(
                f"    {dyn.name} ({type_name(dyn.type)}, {timing}{locked}): {dyn.doc or ''}"
            )
    return "\n".join(line.rstrip() for line in lines) + "\n"
