"""The BackendType hybrid the seed's Backend example imports (``ovs.dal.hybrids.backendtype``)."""

from __future__ import annotations

from dalcore import DataObject, Property


class BackendType(DataObject):
    """A type of backend (alba, ...); ``has_plugin`` says a detail hybrid links one-to-one."""

    __properties = [
        Property("name", str, doc="Name of the backend type."),
        Property("code", str, doc="Short code; names the detail relation <code>_backend."),
        Property("has_plugin", bool, default=False, doc="A plugin hybrid details the backend."),
    ]
    __relations: list[object] = []
    __dynamics: list[object] = []
