"""``consul://[token@]host:8500/prefix?dc=&tls=1&ca=&timeout=5`` and the HTTP calls to an agent.

urllib3 rather than py-consul: the store needs raw ``/v1/txn`` payloads, blocking queries with
their ``X-Consul-Index`` header, and per-request timeouts, which py-consul wraps in ways that
hide one or the other; urllib3's pool is thread-safe and is already in most environments. No
Consul agent can run on the machines dalcore is tested on, so this choice was not measured.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any
from urllib.parse import quote

import urllib3

import dalcore
from dalcore.api import BackendURL
from dalcore.errors import InvalidURLError, StoreUnavailableError

DEFAULT_PORT = 8500


@dataclasses.dataclass(frozen=True)
class ConsulConfig:
    host: str
    port: int
    prefix: str  # every dalcore key lives under it, "" or ending in "/"
    token: str | None = dataclasses.field(default=None, repr=False)
    dc: str | None = None
    tls: bool = False
    ca: str | None = None
    timeout: float = 5.0
    shown: str = ""

    @classmethod
    def from_url(cls, url: BackendURL) -> ConsulConfig:
        # The token is the URL's user part, which BackendURL shows: mask it here.
        shown = str(url).replace(f"{url.username}@", "***@") if url.username else str(url)
        if len(url.hosts) != 1:
            raise InvalidURLError(shown, "one Consul agent (it forwards to the servers)")
        host, port = url.hosts[0]
        token = url.username or url.password
        dalcore.register_secret(token)
        tls = url.param("tls", "0") == "1"
        ca = url.param("ca")
        if ca is not None and not tls:
            raise InvalidURLError(shown, "ca= needs tls=1")
        if ca is not None and not os.access(ca, os.R_OK):
            raise InvalidURLError(shown, f"ca={ca!r} is not a readable file")
        prefix = url.path.strip("/")
        return cls(
            host=host,
            port=port or DEFAULT_PORT,
            prefix=prefix + "/" if prefix else "",
            token=token,
            dc=url.param("dc"),
            tls=tls,
            ca=ca,
            timeout=url.float_param("timeout", 5.0),
            shown=shown,
        )

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


def kv_path(key: str) -> str:
    """The URL path of a KV key: every byte that is not unreserved is percent-encoded."""
    return "/v1/kv/" + quote(key, safe="")


class Http:
    """JSON requests to one agent, errors mapped to StoreUnavailableError."""

    def __init__(self, config: ConsulConfig) -> None:
        self.config = config
        options: dict[str, Any] = {"maxsize": 8, "retries": False}
        if config.tls:
            options.update(cert_reqs="CERT_REQUIRED", ca_certs=config.ca)
        self._pool = urllib3.PoolManager(**options)

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """Status, headers and decoded JSON body (None when empty)."""
        fields = dict(query or {})
        if self.config.dc:
            fields.setdefault("dc", self.config.dc)
        headers = {"X-Consul-Token": self.config.token} if self.config.token else {}
        encoded = None if body is None else json.dumps(body).encode()
        try:
            response = self._pool.request(
                method,
                self.config.base + path + _query(fields),
                body=encoded,
                headers=headers,
                timeout=timeout or self.config.timeout,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise StoreUnavailableError(self.config.shown, exc) from exc
        return response.status, dict(response.headers), _json(response.data)

    def close(self) -> None:
        self._pool.clear()


def _query(fields: dict[str, str]) -> str:
    if not fields:
        return ""
    return "?" + "&".join(f"{quote(k)}={quote(v)}" if v else quote(k) for k, v in fields.items())


def _json(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def unavailable(config: ConsulConfig, status: int, body: Any) -> StoreUnavailableError:
    """The error for an answer the store cannot use (403: the token's ACL refuses it)."""
    reason = {403: "permission denied (check the ACL token)", 500: "the agent failed"}.get(
        status, f"HTTP {status}"
    )
    return StoreUnavailableError(config.shown, f"{reason}: {str(body)[:200]}")
