"""``redis://[user:pw@]host:port/db?prefix=&timeout=&tls=1&ca=&cert=&key=`` (and ``rediss://``)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import redis

from dalcore.api import BackendURL
from dalcore.errors import InvalidURLError

DEFAULT_PORT = 6379


@dataclasses.dataclass(frozen=True)
class RedisConfig:
    host: str
    port: int
    db: int
    prefix: str
    timeout: float
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    tls: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    #: Entries the change stream keeps (the store's watch replays from it).
    log_keep: int = 100_000
    shown: str = ""

    @classmethod
    def from_url(cls, url: BackendURL, default_prefix: str) -> RedisConfig:
        shown = str(url)
        if len(url.hosts) != 1:
            raise InvalidURLError(
                shown, "one Redis server: dalcore does not speak Redis Cluster (see docs/redis.md)"
            )
        host, port = url.hosts[0]
        db_text = url.path.strip("/") or "0"
        if not db_text.isdigit():
            raise InvalidURLError(shown, f"the path names the database number, not {db_text!r}")
        tls = url.scheme == "rediss" or url.param("tls", "0") == "1"
        files = {name: url.param(name) for name in ("ca", "cert", "key")}
        for name, path in files.items():
            if path is None:
                continue
            if not tls:
                raise InvalidURLError(shown, f"{name}= needs tls=1 (or rediss://)")
            if not os.access(path, os.R_OK):
                raise InvalidURLError(shown, f"{name}={path!r} is not a readable file")
        if files["key"] and not files["cert"]:
            raise InvalidURLError(shown, "key= needs cert=")
        if url.username and not url.password:
            raise InvalidURLError(shown, "a Redis user needs a password (user:pw@)")
        return cls(
            host=host,
            port=port or DEFAULT_PORT,
            db=int(db_text),
            prefix=url.param("prefix", default_prefix) or "",
            timeout=url.float_param("timeout", 5.0),
            username=url.username,
            password=url.password,
            tls=tls,
            ca=files["ca"],
            cert=files["cert"],
            key=files["key"],
            log_keep=url.int_param("log_keep", 100_000),
            shown=shown,
        )

    def client(self, **extra: Any) -> Any:
        """A thread-safe client (redis-py pools its connections); replies stay bytes. Typed as
        Any: redis-py's reply types are unions of every reply shape."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "health_check_interval": 30,
            **extra,
        }
        if self.tls:
            options.update(
                ssl=True,
                ssl_ca_certs=self.ca,
                ssl_certfile=self.cert,
                ssl_keyfile=self.key,
                ssl_cert_reqs="required",
            )
        return redis.Redis(**options)
