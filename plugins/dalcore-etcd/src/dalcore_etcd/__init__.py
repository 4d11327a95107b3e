"""dalcore's etcd v3 persistent store: ``etcd://[user:password@]h1:2379,h2:2379/prefix``."""

from dalcore_etcd._config import EtcdConfig
from dalcore_etcd.store import EtcdStore

__all__ = ["EtcdConfig", "EtcdStore"]
