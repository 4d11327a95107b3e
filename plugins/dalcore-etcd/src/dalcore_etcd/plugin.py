"""The dalcore plugin (entry point ``etcd`` in the group ``dalcore.plugins``)."""

from __future__ import annotations

from dalcore.api import BackendURL, PersistentStore
from dalcore.hookspecs import Provided, hookimpl


@hookimpl
def dalcore_provides() -> list[Provided]:
    return [
        Provided(
            "persistent",
            "etcd",
            "etcd v3 cluster over gRPC: etcd://[user:pw@]h1:2379,h2:2379/prefix?timeout=5",
        )
    ]


@hookimpl
def dalcore_persistent_store(url: BackendURL) -> PersistentStore | None:
    if url.scheme != "etcd":
        return None
    # Imported here so that listing plugins does not load gRPC.
    from dalcore_etcd._config import EtcdConfig
    from dalcore_etcd.store import EtcdStore

    return EtcdStore(EtcdConfig.from_url(url))
