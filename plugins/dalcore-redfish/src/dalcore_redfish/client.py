"""One Redfish client per BMC: sushy's connector and auth, plus bounded retries and typed errors.

sushy (OpenStack's Redfish library) does the parts that are easy to get wrong: session
authentication with a fallback to basic when the BMC has no SessionService, re-authentication
when a session expires, deleting the session on close, TLS verification on by default, and
mapping HTTP statuses to exception classes. Sources read raw JSON through its connector rather
than its typed resources, because a dynamic's value must be plain JSON for the volatile cache
and a source names an arbitrary attribute path, not one of sushy's fields.

Policy added here:

* one :class:`BMCClient` per BMC address (and so per user) in a process, shared by every object
  whose dynamics point at that BMC; dropped after a fork, closed at exit;
* GETs answered 500/502/503/504 are retried ``retries`` times with doubling waits; 501 and
  4xx are final; POSTs (actions) are never retried, since a second reset is not harmless;
* at most ``max_concurrent`` requests in flight per BMC, so a cold listing cannot hammer it;
* every failure becomes a :mod:`dalcore_redfish.errors` class naming BMC and resource.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import requests
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exceptions
from sushy.main import Sushy

from dalcore_redfish import credentials as creds
from dalcore_redfish.errors import (
    ActionError,
    BMCAuthenticationError,
    BMCCertificateError,
    BMCServerError,
    BMCUnreachableError,
    MalformedResponseError,
    RedfishConfigurationError,
    RedfishError,
    ResourceNotFoundError,
)

__all__ = [
    "BMCClient",
    "BMCOptions",
    "bmc_url",
    "client_for",
    "close_all",
    "configure_bmc",
    "options_for",
]

log = logging.getLogger("dalcore.redfish")

ROOT = "/redfish/v1/"
_RETRYABLE = frozenset({500, 502, 503, 504})
_MAX_WAIT = 5.0


@dataclass(frozen=True)
class BMCOptions:
    """How to talk to one BMC.

    ``verify``: True, False (warns) or a CA bundle path. ``auth``: ``"auto"`` tries a Redfish
    session and falls back to basic auth; ``"basic"`` skips the session attempt (for BMCs known
    to have no SessionService, which otherwise cost one refused POST per connect).
    """

    verify: bool | str = True
    auth: str = "auto"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.25
    max_concurrent: int = 4


def bmc_url(address: str) -> str:
    """Normalise a BMC address to ``scheme://host:port`` (https when no scheme is given).

    An address with user info (``https://user:pw@host``) is refused: the password would then
    live in the persistent store as part of an object's property.
    """
    text = address.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise RedfishConfigurationError("BMC address is not a valid URL") from None
    if parts.username is not None or parts.password is not None:
        raise RedfishConfigurationError(
            "BMC address contains user info; keep credentials in a credential provider"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RedfishConfigurationError(f"BMC address {address!r} needs http(s)://host[:port]")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{host}:{port}"


class _Anonymous(sushy_auth.AuthBase):  # type: ignore[misc]
    """No credentials at all (an emulator or a lab BMC without auth)."""

    def __init__(self) -> None:
        super().__init__(None, None)

    def _do_authenticate(self) -> None:
        pass

    def can_refresh_session(self) -> bool:
        return False


def _transport_reason(exc: BaseException) -> tuple[str, bool]:
    """A short reason for a transport failure and whether it is a certificate problem.

    Built from the exception types and fixed phrases only, so nothing a server sent (or a URL)
    ends up in the message.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(str(item) for item in chain)
    if any(isinstance(item, requests.exceptions.SSLError) for item in chain):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return "TLS certificate verification failed", True
        return "TLS handshake failed", False
    if any(isinstance(item, requests.exceptions.Timeout) for item in chain):
        return "timed out", False
    if "Connection refused" in text:
        return "connection refused", False
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name does not resolve", False
    return "connection failed (" + type(chain[-1]).__name__ + ")", False


class BMCClient:
    """A connection (and Redfish session, if the BMC offers one) to one BMC.

    ``responses`` counts HTTP responses this client received, retries included; tests and
    operators use it to see what caching saves.
    """

    def __init__(
        self, bmc: str, credentials: creds.Credentials | None, options: BMCOptions
    ) -> None:
        self.bmc = bmc
        self.username = credentials.username if credentials else None
        self.options = options
        self.responses = 0
        self._credentials = credentials
        self._lock = threading.Lock()
        self._gate = threading.BoundedSemaphore(max(1, options.max_concurrent))
        self._connector: sushy_connector.Connector | None = None
        self._auth: sushy_auth.AuthBase | None = None
        self._root: Sushy | None = None
        self.closed = False
        if options.verify is False:
            log.warning("TLS certificate verification is OFF for BMC %s", bmc)

    def __repr__(self) -> str:
        return f"BMCClient({self.bmc!r}, user={self.username!r}, auth={self.auth_mode!r})"

    @property
    def auth_mode(self) -> str:
        """``session``, ``basic``, ``none`` or ``unconnected``."""
        auth = self._auth
        if auth is None:
            return "unconnected"
        if isinstance(auth, _Anonymous):
            return "none"
        return "session" if auth.can_refresh_session() else "basic"

    def _count(self, _response: requests.Response) -> None:
        self.responses += 1  # a lost increment under threads only blurs a statistic

    def _connected(self) -> sushy_connector.Connector:
        """The connector, authenticating on first use (not cached if that fails)."""
        with self._lock:
            if self.closed:
                raise BMCUnreachableError(self.bmc, ROOT, "client was closed")
            if self._connector is not None:
                return self._connector
            options = self.options
            connector = sushy_connector.Connector(
                self.bmc,
                verify=options.verify,
                response_callback=self._count,
                # sushy's own 5xx retries wait a fixed delay; ours back off, so switch its off.
                # Its connection-error retries (3 attempts) stay, spaced by our first backoff.
                server_side_retries=0,
                server_side_retries_delay=max(options.backoff, 0.01),
                default_request_timeout=options.read_timeout,
                connect_timeout=options.connect_timeout,
            )
            auth: sushy_auth.AuthBase
            if self._credentials is None:
                auth = _Anonymous()
            elif options.auth == "basic":
                auth = sushy_auth.BasicAuth(
                    username=self._credentials.username,
                    password=self._credentials.password.reveal(),
                )
            else:
                auth = sushy_auth.SessionOrBasicAuth(
                    username=self._credentials.username,
                    password=self._credentials.password.reveal(),
                )
            try:
                root = Sushy(self.bmc, auth=auth, connector=connector)
            except Exception as exc:
                connector.close()
                raise self._translate(exc, ROOT, "GET") from None
            self._connector, self._auth, self._root = connector, auth, root
            log.debug(
                "connected to BMC %s as %s (%s auth)", self.bmc, self.username, self.auth_mode
            )
            return connector

    def _translate(self, exc: BaseException, resource: str, method: str) -> RedfishError:
        if isinstance(exc, RedfishError):
            return exc
        if isinstance(exc, sushy_exceptions.HTTPError):
            status = int(exc.status_code or 0)
            reason = f"{method} answered HTTP {status}"
            if status in (401, 403):
                return BMCAuthenticationError(self.bmc, resource, reason, status)
            if status == 404:
                return ResourceNotFoundError(self.bmc, resource, reason, status)
            if status >= 500:
                return BMCServerError(self.bmc, resource, reason, status)
            if method != "GET":
                return ActionError(self.bmc, resource, reason, status)
            return RedfishError(self.bmc, resource, reason, status)
        if isinstance(exc, ValueError):
            # requests' JSONDecodeError is both a ValueError and a RequestException: a BMC that
            # answered garbage is not an unreachable one.
            return MalformedResponseError(self.bmc, resource, "response is not JSON")
        if isinstance(exc, sushy_exceptions.ConnectionError | requests.RequestException):
            reason, certificate = _transport_reason(exc)
            kind = BMCCertificateError if certificate else BMCUnreachableError
            return kind(self.bmc, resource, reason)
        if isinstance(exc, sushy_exceptions.SushyError):
            return MalformedResponseError(self.bmc, resource, type(exc).__name__)
        return RedfishError(self.bmc, resource, f"unexpected {type(exc).__name__}")

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> requests.Response:
        connector = self._connected()
        with self._gate:
            try:
                if method == "GET":
                    response: requests.Response = connector.get(path)
                else:
                    response = connector.post(path, data=body)
            except Exception as exc:
                raise self._translate(exc, path, method) from None
        return response

    def get_json(self, path: str) -> dict[str, Any]:
        """GET ``path`` (absolute, e.g. ``/redfish/v1/Systems/1``) and return its JSON object."""
        attempt = 0
        while True:
            try:
                response = self._request("GET", path, None)
                break
            except BMCServerError as exc:
                if exc.status not in _RETRYABLE or attempt >= self.options.retries:
                    raise
                wait = min(self.options.backoff * (2**attempt), _MAX_WAIT)
                log.info(
                    "BMC %s answered %s for %s; retrying in %.2fs", self.bmc, exc.status, path, wait
                )
                time.sleep(wait)
                attempt += 1
        try:
            document = response.json()
        except ValueError:
            raise MalformedResponseError(self.bmc, path, "response is not JSON") from None
        if not isinstance(document, dict):
            raise MalformedResponseError(
                self.bmc, path, f"expected a JSON object, got {type(document).__name__}"
            )
        return document

    def post(self, path: str, body: dict[str, Any]) -> int:
        """POST ``body`` as JSON to ``path`` (an action target); returns the status code."""
        return self._request("POST", path, body).status_code

    def close(self) -> None:
        """Delete the Redfish session on the BMC (if any) and drop the connection."""
        with self._lock:
            self.closed = True
            auth, connector = self._auth, self._connector
            self._auth = self._connector = self._root = None
        if auth is not None:
            try:
                auth.close()
            except Exception as exc:  # closing is best effort: the BMC may be gone already
                log.info("could not end the session on BMC %s: %s", self.bmc, type(exc).__name__)
        if connector is not None:
            connector.close()


# -- the per-process pool -----------------------------------------------------------------

_pool_lock = threading.Lock()
_clients: dict[str, BMCClient] = {}
_options: dict[str, BMCOptions] = {}
_default_options = BMCOptions()


def configure_bmc(address: str | None = None, **changes: Any) -> BMCOptions:
    """Set options for one BMC (or, with no address, the defaults for all BMCs).

    ``configure_bmc("https://10.0.0.5", verify=False)`` turns TLS verification off for that BMC
    only, and logs a warning; ``verify="/path/ca.pem"`` trusts a private CA. An existing client
    for the BMC is closed so the next read uses the new options.
    """
    global _default_options
    if changes.get("auth", "auto") not in ("auto", "basic"):
        raise RedfishConfigurationError("auth must be 'auto' or 'basic'")
    with _pool_lock:
        if address is None:
            _default_options = replace(_default_options, **changes)
            stale = list(_clients.values())
            _clients.clear()
            result = _default_options
        else:
            bmc = bmc_url(address)
            result = replace(_options.get(bmc, _default_options), **changes)
            _options[bmc] = result
            old = _clients.pop(bmc, None)
            stale = [old] if old is not None else []
    if changes.get("verify") is False:
        log.warning("TLS certificate verification turned OFF for %s", address or "every BMC")
    for client in stale:
        client.close()
    return result


def options_for(address: str) -> BMCOptions:
    bmc = bmc_url(address)
    with _pool_lock:
        return _options.get(bmc, _default_options)


def client_for(address: str) -> BMCClient:
    """The shared client of the BMC at ``address``, created (credentials looked up) on first use."""
    bmc = bmc_url(address)
    with _pool_lock:
        client = _clients.get(bmc)
        if client is not None:
            return client
        options = _options.get(bmc, _default_options)
    found = creds.lookup(bmc)  # outside the lock: a provider may be slow
    with _pool_lock:
        client = _clients.get(bmc)
        if client is None:
            client = _clients[bmc] = BMCClient(bmc, found, options)
        return client


def discard(client: BMCClient) -> None:
    """Close ``client`` and forget it, so the next use reconnects (and asks for credentials)."""
    with _pool_lock:
        if _clients.get(client.bmc) is client:
            del _clients[client.bmc]
    client.close()


def close_all() -> None:
    """Close every client of this process (registered with atexit)."""
    with _pool_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _forget_after_fork() -> None:
    # The parent owns those sessions and sockets; the child starts with none and must not close
    # the parent's sessions on the BMC when it exits.
    global _pool_lock
    _pool_lock = threading.Lock()
    _clients.clear()


atexit.register(close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
