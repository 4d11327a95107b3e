"""dalcore's persistent store on Consul's KV HTTP API."""

from dalcore_consul.store import ConsulStore

__all__ = ["ConsulStore"]
