"""Compatibility layers: other projects' model APIs running on the dalcore engine.

* :mod:`dalcore.compat.valence` -- OpenStack Valence's ``ModelBase`` / ``types`` / etcd driver,
  storing each object as one JSON document at ``<path>/<uuid>`` as Valence did.
"""

__all__: list[str] = []
