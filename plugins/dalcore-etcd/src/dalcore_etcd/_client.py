"""A thin etcd v3 gRPC client: one channel per member, failover, auth token, typed errors.

Only the generated protobuf messages and stubs of ``etcd-sdk-python`` (``pyetcd.etcdrpc``) are
used. Its client class is bypassed because it does not retry on another member by itself, raises
its own exception types and adds per-call overhead (see ``bench_clients.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc  # type: ignore[import-untyped,unused-ignore]
from pyetcd import etcdrpc

from dalcore import register_secret
from dalcore.errors import StoreError, StoreUnavailableError
from dalcore_etcd._config import EtcdConfig

log = logging.getLogger("dalcore.etcd")

# Ask a member to refuse at once when it has no leader (etcd's "require leader" metadata)
# instead of holding the request until the deadline: the next member may still have quorum.
# Sent on retries and on streams (a watch on a cut-off member would otherwise just go quiet),
# not on a call's first attempt: it costs ~40 us a call (bench_clients.py), 14% of a get.
_REQUIRE_LEADER = ("hasleader", "true")

# These mean "this member cannot serve now": try the next one.
_FAILOVER = frozenset({grpc.StatusCode.UNAVAILABLE})
# These mean the cluster (or our access to it) is unusable rather than the request being wrong.
_UNAVAILABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)

# Server limits a transaction can run into, and the etcd flag that raises each.
_HINTS = {
    "too many operations": " (the server's --max-txn-ops limits a commit's operations and checks)",
    "too large": " (the server's --max-request-bytes limits a request, 1.5 MiB by default)",
    "larger than max": " (the server's --max-request-bytes limits a request, 1.5 MiB by default)",
}

_CHANNEL_OPTIONS = [
    # A member that comes back is used again within a second, not after gRPC's 2-minute backoff.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Scan pages of large values can exceed gRPC's 4 MiB default; etcd bounds requests itself.
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    # Notice a silently dead member under a long-lived watch or keep-alive stream. etcd refuses
    # pings more often than every 5 s (--grpc-keepalive-min-time).
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
]


def _read(path: str, what: str, shown: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        from dalcore.errors import InvalidURLError

        raise InvalidURLError(shown, f"cannot read {what} file {path!r}: {exc}") from None


def _credentials(config: EtcdConfig) -> Any:
    ca = _read(config.ca, "CA", config.shown) if config.ca else None
    cert = _read(config.cert, "certificate", config.shown) if config.cert else None
    key = _read(config.key, "key", config.shown) if config.key else None
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


class Member:
    """One cluster member: its channel and the stubs bound to it."""

    def __init__(self, address: str, config: EtcdConfig, credentials: Any) -> None:
        self.address = address
        self.endpoint = f"etcd://{address}"
        options: list[tuple[str, int | str]] = list(_CHANNEL_OPTIONS)
        if config.server_name:
            options.append(("grpc.ssl_target_name_override", config.server_name))
        if credentials is None:
            self.channel = grpc.insecure_channel(address, options=options)
        else:
            self.channel = grpc.secure_channel(address, credentials, options=options)
        self.kv = etcdrpc.KVStub(self.channel)
        self.lease = etcdrpc.LeaseStub(self.channel)
        self.watch = etcdrpc.WatchStub(self.channel)
        self.auth = etcdrpc.AuthStub(self.channel)
        self.maintenance = etcdrpc.MaintenanceStub(self.channel)

    def close(self) -> None:
        self.channel.close()


def describe(exc: BaseException) -> str:
    """``UNAVAILABLE: etcdserver: no leader`` rather than gRPC's multi-line repr."""
    if isinstance(exc, grpc.RpcError):
        code, details = exc.code(), exc.details()
        return f"{getattr(code, 'name', code)}: {details}"
    return f"{type(exc).__name__}: {exc}"


class Connection:
    """Members of one cluster, used one at a time; a failing member hands over to the next.

    Every call has one budget (the URL's ``timeout``) shared by all the members it tries, so a
    dead cluster gives :class:`StoreUnavailableError` after at most that long, never a hang.
    """

    def __init__(self, config: EtcdConfig) -> None:
        self.config = config
        self.timeout = config.timeout
        credentials = _credentials(config) if config.tls else None
        self.members = [Member(address, config, credentials) for address in config.members]
        self.current = 0  # index of the member in use; plain int writes are atomic enough
        self._auth_lock = threading.Lock()
        self._needs_token = config.username is not None
        self.metadata: tuple[tuple[str, str], ...] = (_REQUIRE_LEADER,)
        self.first_metadata: tuple[tuple[str, str], ...] | None = None  # the token, if any
        self.closed = False

    @property
    def member(self) -> Member:
        return self.members[self.current]

    def failed(self, member: Member) -> None:
        """``member`` misbehaved: make the next one current (unless someone already did)."""
        index = self.members.index(member)
        if self.current == index:
            self.current = (index + 1) % len(self.members)

    # -- unary calls --------------------------------------------------------------------------

    def unary(self, pick: Callable[[Member], Any], request: Any, key: str | None = None) -> Any:
        """Send ``request`` to the method ``pick`` selects on a member, failing over as needed.

        ``key`` only names the request in error messages.
        """
        if not self._needs_token:
            started = time.monotonic()
            member = self.members[self.current]
            try:
                return pick(member)(request, timeout=self.timeout, metadata=self.first_metadata)
            except grpc.RpcError as exc:
                code = exc.code()
                if code not in _FAILOVER and not (
                    code is grpc.StatusCode.UNAUTHENTICATED and self.config.username
                ):
                    raise self.error(exc, member, key) from None
                first_failure: Any = exc
            except ValueError as exc:  # gRPC: "Cannot invoke RPC on closed channel!"
                raise StoreUnavailableError(self.config.shown, f"store closed ({exc})") from None
            return self._retry(pick, request, key, started + self.timeout, first_failure)
        return self._retry(pick, request, key, time.monotonic() + self.timeout, None)

    def _retry(
        self,
        pick: Callable[[Member], Any],
        request: Any,
        key: str | None,
        deadline: float,
        failure: Any,
    ) -> Any:
        causes: dict[str, str] = {}
        retried_auth = False
        if failure is not None:
            member = self.members[self.current]
            if failure.code() is grpc.StatusCode.UNAUTHENTICATED:
                retried_auth = True
                self._drop_token()
            else:
                causes[member.address] = describe(failure)
                self.failed(member)
        pause = 0.02
        while True:
            for _ in range(len(self.members)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._unavailable(causes)
                member = self.members[self.current]
                try:
                    metadata = self.metadata
                    if self._needs_token:
                        metadata = self._login(member, remaining)
                    return pick(member)(request, timeout=remaining, metadata=metadata)
                except grpc.RpcError as exc:
                    code = exc.code()
                    if (
                        code is grpc.StatusCode.UNAUTHENTICATED
                        and self.config.username
                        and not retried_auth
                    ):
                        # The token expired (etcd forgets idle simple tokens): log in again.
                        retried_auth = True
                        self._drop_token()
                        continue
                    if code not in _FAILOVER:
                        raise self.error(exc, member, key) from None
                    causes[member.address] = describe(exc)
                    self.failed(member)
                except ValueError as exc:
                    raise StoreUnavailableError(
                        self.config.shown, f"store closed ({exc})"
                    ) from None
            # Every member refused quickly (all down, or an election is going on): wait a
            # little and go round again while the budget lasts.
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._unavailable(causes)
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.25)

    def _unavailable(self, causes: dict[str, str]) -> StoreUnavailableError:
        detail = "; ".join(f"{address}: {why}" for address, why in causes.items())
        return StoreUnavailableError(
            self.config.shown,
            f"no member answered within {self.timeout:g}s ({detail or 'timed out'})",
        )

    def error(self, exc: Any, member: Member, key: str | None) -> StoreError:
        """The dalcore error for a gRPC failure that failover cannot help with."""
        code = exc.code()
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            # Possibly a member cut off from the others: start the next request elsewhere.
            self.failed(member)
        details = exc.details() or ""
        if "user name is empty" in details:
            return StoreUnavailableError(
                member.endpoint,
                f"{describe(exc)} (the server requires etcd://user:password@... credentials)",
            )
        if code in _UNAVAILABLE:
            return StoreUnavailableError(member.endpoint, describe(exc))
        about = f" for key {key!r}" if key is not None else ""
        hint = next((text for marker, text in _HINTS.items() if marker in details), "")
        return StoreError(
            f"etcd at {member.endpoint} refused the request{about}: {describe(exc)}{hint}"
        )

    # -- authentication -----------------------------------------------------------------------

    def _login(self, member: Member, remaining: float) -> tuple[tuple[str, str], ...]:
        """Metadata carrying a fresh token, asked of ``member``.

        gRPC failover errors propagate so that the caller tries the next member.
        """
        with self._auth_lock:
            if not self._needs_token:
                return self.metadata
            request = etcdrpc.AuthenticateRequest(
                name=self.config.username, password=self.config.password
            )
            try:
                response = member.auth.Authenticate(
                    request, timeout=remaining, metadata=(_REQUIRE_LEADER,)
                )
            except grpc.RpcError as exc:
                if exc.code() in _FAILOVER:
                    raise
                if "authentication is not enabled" in (exc.details() or ""):
                    # The server checks no credentials: go on without a token.
                    self._needs_token = False
                    return self.metadata
                raise StoreUnavailableError(
                    member.endpoint,
                    f"cannot log in as {self.config.username!r}: {describe(exc)}",
                ) from None
            # The token grants what the password does: kept out of log records as well.
            register_secret(str(response.token))
            token = ("token", str(response.token))
            self.metadata = (_REQUIRE_LEADER, token)
            self.first_metadata = (token,)
            self._needs_token = False
            return self.metadata

    def _drop_token(self) -> None:
        with self._auth_lock:
            self.metadata = (_REQUIRE_LEADER,)
            self.first_metadata = None
            self._needs_token = True

    def stream_metadata(self, member: Member) -> tuple[tuple[str, str], ...]:
        """Metadata for a streaming call (watch, keep-alive) on ``member``, logging in if needed."""
        if self._needs_token:
            return self._login(member, self.timeout)
        return self.metadata

    def close(self) -> None:
        self.closed = True
        for member in self.members:
            member.close()
