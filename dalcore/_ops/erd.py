"""``dalcore erd``: the entity-relationship diagram of the registered hybrids.

The model is first reduced to plain data (:class:`Entity`, :class:`Link`), sorted by name so
that the same hybrids always give the same text, byte for byte: the README's committed diagram
is checked against a fresh one by a test. Mermaid and Graphviz DOT are written here; SVG and
PNG are DOT run through Graphviz's ``dot`` program.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from dalcore._structures import type_name
from dalcore.errors import ConfigurationError, MissingToolError

if TYPE_CHECKING:
    from dalcore._dataobject import DataObject

FORMATS = ("mermaid", "dot", "svg", "png")


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    type: str  # str, int, float, bool, list, dict, enum, guid
    flags: tuple[str, ...]  # "PK", "FK", "unique", "indexed", "optional", "default=...", ...
    note: str = ""  # an enum's values


@dataclasses.dataclass(frozen=True)
class Entity:
    name: str
    path: str
    fields: tuple[Field, ...]
    dynamics: tuple[Field, ...]
    junction: bool  # only two many-to-one relations and no properties: a many-to-many link


@dataclasses.dataclass(frozen=True)
class Link:
    source: str  # the hybrid declaring the relation (the "many" side unless one-to-one)
    target: str
    name: str
    reverse: str
    onetoone: bool
    mandatory: bool

    @property
    def kind(self) -> str:
        if self.source == self.target:
            return "self"
        return "one-to-one" if self.onetoone else "one-to-many"


@dataclasses.dataclass(frozen=True)
class Model:
    entities: tuple[Entity, ...]
    links: tuple[Link, ...]
    # (first end, second end, junction hybrid): many-to-many through a junction
    many: tuple[tuple[str, str, str], ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "entities": [dataclasses.asdict(entity) for entity in self.entities],
            "relations": [{**dataclasses.asdict(link), "kind": link.kind} for link in self.links],
            "many_to_many": [
                {"ends": [first, second], "junction": junction}
                for first, second, junction in self.many
            ],
        }


def _property_field(prop: Any) -> Field:
    flags: list[str] = []
    if prop.unique:
        flags.append("unique")
    elif prop.indexed:
        flags.append("indexed")
    if not prop.mandatory:
        flags.append("optional")
    if prop.default is not None:
        flags.append(f"default={prop.default!r}")
    if isinstance(prop.type, list):
        return Field(prop.name, "enum", tuple(flags), "/".join(str(v) for v in prop.type))
    return Field(prop.name, type_name(prop.type), tuple(flags))


def model(hybrids: list[type[DataObject]]) -> Model:
    """The diagram's content for ``hybrids``; relations to hybrids not listed are kept (their
    target is drawn as a bare entity) so that a partial diagram does not hide a link."""
    entities: dict[str, Entity] = {}
    links: list[Link] = []
    for cls in hybrids:
        meta = cls._meta
        fields = [Field("guid", "str", ("PK",))]
        fields += [_property_field(prop) for prop in meta.properties.values()]
        for rel in meta.relations.values():
            target = meta.target(rel.name)._replacement()
            flags = ("FK",) if rel.mandatory else ("FK", "optional")
            fields.append(Field(rel.name + "_guid", "guid", flags, target.__name__))
            links.append(
                Link(cls.__name__, target.__name__, rel.name, rel.reverse_name,
                     rel.onetoone, rel.mandatory)
            )  # fmt: skip
        dynamics = tuple(
            Field(dyn.name, _kind(dyn.type), (f"{dyn.timeout:g} s",) + (("locked",) * dyn.locked))
            for dyn in meta.dynamics.values()
        )
        many_to_one = [rel for rel in meta.relations.values() if not rel.onetoone]
        junction = not meta.properties and len(meta.relations) == 2 == len(many_to_one)
        entities[cls.__name__] = Entity(cls.__name__, meta.path, tuple(fields), dynamics, junction)
    for link in links:
        if link.target not in entities:
            entities[link.target] = Entity(link.target, "", (), (), False)
    many = []
    for entity in entities.values():
        if entity.junction:
            ends = sorted(link.target for link in links if link.source == entity.name)
            many.append((ends[0], ends[1], entity.name))
    return Model(
        tuple(sorted(entities.values(), key=lambda e: e.name)),
        tuple(sorted(links, key=lambda link: (link.source, link.name))),
        tuple(sorted(many)),
    )


def _kind(kind: Any) -> str:
    return "enum" if isinstance(kind, list) else type_name(kind)


# -- Mermaid ------------------------------------------------------------------------------


def _mermaid_comment(field: Field) -> str:
    words = [flag for flag in field.flags if flag not in ("PK", "FK")]
    if field.note:
        words.append(field.note if field.type != "guid" else f"-> {field.note}")
    text = ", ".join(words).replace('"', "'")
    return f' "{text}"' if text else ""


def to_mermaid(m: Model) -> str:
    lines = ["erDiagram"]
    for entity in m.entities:
        lines.append(f"    {entity.name} {{")
        for field in entity.fields:
            keys = [flag for flag in field.flags if flag in ("PK", "FK")]
            key = f" {','.join(keys)}" if keys else ""
            lines.append(f"        {field.type} {field.name}{key}{_mermaid_comment(field)}")
        for dyn in entity.dynamics:
            lines.append(f'        {dyn.type} {dyn.name} "dynamic, {", ".join(dyn.flags)}"')
        lines.append("    }")
    for link in m.links:
        one = "||" if link.mandatory else "|o"
        many = "o|" if link.onetoone else "o{"
        label = f"{link.name} / {link.reverse}"
        lines.append(f'    {link.target} {one}--{many} {link.source} : "{label}"')
    for first, second, junction in m.many:
        lines.append(f'    {first} }}o..o{{ {second} : "many-to-many via {junction}"')
    return "\n".join(lines) + "\n"


# -- Graphviz -----------------------------------------------------------------------------


def _row(cells: list[str], color: str = "") -> str:
    font = f' COLOR="{color}"' if color else ""
    tds = "".join(
        f'<TD ALIGN="LEFT"><FONT{font} POINT-SIZE="10">{c or "-"}</FONT></TD>' for c in cells
    )
    return f"<TR>{tds}</TR>"


def to_dot(m: Model) -> str:
    out = [
        "digraph erd {",
        '    graph [rankdir=LR, fontname="Helvetica", nodesep=0.5, ranksep=1.0];',
        '    node [shape=plain, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=9, dir=both];',
    ]
    for entity in m.entities:
        title = html.escape(entity.name)
        if entity.junction:
            title += " <I>(junction)</I>"
        rows = [
            f'<TR><TD COLSPAN="3" BGCOLOR="#dde6f5"><B>{title}</B></TD></TR>',
        ]
        for field in entity.fields:
            flags = ", ".join(field.flags)
            note = f" ({field.note})" if field.note else ""
            rows.append(_row([html.escape(field.name), html.escape(field.type + note),
                              html.escape(flags)]))  # fmt: skip
        for dyn in entity.dynamics:
            cells = [dyn.name, dyn.type, "dynamic, " + ", ".join(dyn.flags)]
            rows.append(_row([html.escape(cell) for cell in cells], "#6a4c93"))
        table = "".join(rows)
        out.append(
            f'    "{entity.name}" [label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" '
            f'CELLPADDING="3">{table}</TABLE>>];'
        )
    for link in m.links:
        head = "teetee" if link.mandatory else "teeodot"  # at the target: exactly / at most one
        tail = "teeodot" if link.onetoone else "crowodot"  # at the source: zero-or-one / many
        label = html.escape(f"{link.name} / {link.reverse}\n{link.kind}").replace("\n", "\\n")
        out.append(
            f'    "{link.source}" -> "{link.target}" '
            f'[label="{label}", arrowhead={head}, arrowtail={tail}];'
        )
    for first, second, junction in m.many:
        out.append(
            f'    "{first}" -> "{second}" [label="many-to-many\\nvia {junction}", '
            "style=dashed, arrowhead=crowodot, arrowtail=crowodot, constraint=false];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


SOURCE_MARK = "dalcore-erd-source-sha256:"


def source_digest(dot_source: str) -> str:
    return hashlib.sha256(dot_source.encode()).hexdigest()


def render(dot_source: str, fmt: str) -> bytes:
    """SVG or PNG from DOT through Graphviz. An SVG carries the digest of its DOT source in a
    comment, so a test can tell whether a committed diagram still matches the model without
    depending on the Graphviz version's exact drawing."""
    program = shutil.which("dot")
    if program is None:
        raise MissingToolError("dot", "graphviz", f"dalcore erd --format {fmt}")
    done = subprocess.run(
        [program, f"-T{fmt}"], input=dot_source.encode(), capture_output=True, timeout=120
    )
    if done.returncode != 0:
        raise ConfigurationError(
            f"dot -T{fmt} failed (exit {done.returncode}): {done.stderr.decode(errors='replace')}"
        )
    output = done.stdout
    if fmt == "svg":
        mark = f"<!-- {SOURCE_MARK}{source_digest(dot_source)} -->\n".encode()
        cut = output.find(b"<svg")
        output = output[:cut] + mark + output[cut:]
    return output


def diagram(hybrids: list[type[DataObject]], fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ConfigurationError(f"erd format must be one of {', '.join(FORMATS)}: {fmt!r}")
    m = model(hybrids)
    if fmt == "mermaid":
        return to_mermaid(m).encode()
    source = to_dot(m)
    return source.encode() if fmt == "dot" else render(source, fmt)
