"""The dalcore plugin (entry point ``consul`` in the group ``dalcore.plugins``)."""

from __future__ import annotations

from dalcore.api import BackendURL, PersistentStore
from dalcore.hookspecs import Provided, hookimpl


@hookimpl
def dalcore_provides() -> list[Provided]:
    return [
        Provided(
            "persistent",
            "consul",
            "Consul KV over HTTP: consul://[token@]host:8500/prefix?dc=&tls=1&ca=",
        )
    ]


@hookimpl
def dalcore_persistent_store(url: BackendURL) -> PersistentStore | None:
    if url.scheme != "consul":
        return None
    from dalcore_consul._http import ConsulConfig
    from dalcore_consul.store import ConsulStore

    return ConsulStore(ConsulConfig.from_url(url))
