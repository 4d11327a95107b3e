"""What an ``etcd://`` URL says: members, key prefix, timeout, credentials, TLS files."""

from __future__ import annotations

import dataclasses

from dalcore import register_secret
from dalcore.api import BackendURL
from dalcore.errors import InvalidURLError

DEFAULT_PORT = 2379
DEFAULT_TIMEOUT = 5.0
# etcd's own default for --max-txn-ops; a Txn with more compares or operations is refused.
DEFAULT_MAX_TXN_OPS = 128

_KNOWN = frozenset({"timeout", "ca", "cert", "key", "tls", "server_name", "max_txn_ops"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclasses.dataclass(frozen=True)
class EtcdConfig:
    """A parsed ``etcd://`` URL (see ``docs/etcd.md`` for every parameter)."""

    members: tuple[str, ...]  # "host:port", in the order given: failover tries them in turn
    prefix: str  # prepended to every dalcore key ("" or ending in "/")
    timeout: float
    max_txn_ops: int
    tls: bool
    ca: str | None
    cert: str | None
    key: str | None
    server_name: str | None
    username: str | None
    password: str | None = dataclasses.field(repr=False)
    shown: str  # the URL with the password masked, for messages

    @classmethod
    def from_url(cls, url: BackendURL) -> EtcdConfig:
        shown = str(url)
        unknown = sorted(set(url.query) - _KNOWN)
        if unknown:
            raise InvalidURLError(
                shown,
                f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN))}",
            )
        if not url.hosts:
            raise InvalidURLError(shown, "no etcd member given (etcd://host:2379/prefix)")
        members = tuple(
            f"[{host}]:{port or DEFAULT_PORT}" if ":" in host else f"{host}:{port or DEFAULT_PORT}"
            for host, port in url.hosts
        )
        timeout = url.float_param("timeout", DEFAULT_TIMEOUT)
        if not timeout > 0:
            raise InvalidURLError(shown, "timeout must be a positive number of seconds")
        max_txn_ops = url.int_param("max_txn_ops", DEFAULT_MAX_TXN_OPS)
        if max_txn_ops < 2:
            raise InvalidURLError(shown, "max_txn_ops must be at least 2")
        ca, cert, key = url.param("ca") or None, url.param("cert") or None, url.param("key") or None
        if (cert is None) != (key is None):
            raise InvalidURLError(shown, "a client certificate needs both cert= and key=")
        tls_flag = (url.param("tls") or "").lower()
        if tls_flag not in _TRUE | _FALSE:
            raise InvalidURLError(shown, f"tls={tls_flag!r}: expected 1/0, true/false")
        tls = tls_flag in _TRUE or ca is not None or cert is not None
        if tls_flag in _FALSE and tls_flag and tls:
            raise InvalidURLError(shown, "tls=0 contradicts ca=/cert=")
        if url.password is not None and url.username is None:
            raise InvalidURLError(shown, "a password needs a user name")
        if url.username is not None and url.password is None:
            raise InvalidURLError(shown, "user name without password (etcd://user:password@...)")
        # Masked in every log record (grpc logs through Python too): see dalcore/_secrets.py.
        register_secret(url.password)
        return cls(
            members=members,
            prefix=_prefix(url.path),
            timeout=timeout,
            max_txn_ops=max_txn_ops,
            tls=tls,
            ca=ca,
            cert=cert,
            key=key,
            server_name=url.param("server_name") or None,
            username=url.username,
            password=url.password,
            shown=shown,
        )


def _prefix(path: str) -> str:
    """``/dalcore`` and ``/dalcore/`` both give ``/dalcore/``; no path gives no prefix.

    The separator is added so that ``etcd://h/app`` and ``etcd://h/app2`` never see each
    other's keys.
    """
    stripped = path.rstrip("/")
    return stripped + "/" if stripped else ""
