"""Connections to one memcached server: TLS, ASCII authentication, and the server's incarnation.

pymemcache opens a connection lazily, on its first command. Here every new connection first
runs a handshake before anything else travels on it:

1. with credentials, memcached's ASCII authentication (``-Y authfile``): a ``set`` whose data
   is ``"<user> <password>"`` (the key and flags are ignored by the server), answered
   ``STORED`` or ``CLIENT_ERROR authentication failure``; a server started with ``-Y`` answers
   every other command with ``CLIENT_ERROR unauthenticated`` until then;
2. ``stats``, for the server's ``pid`` and its start time (``time - uptime``): the
   *incarnation* of the server this connection talks to. A TCP connection cannot outlive the
   process at its other end, so every reply read on it comes from that incarnation.

A new connection that reaches another incarnation than before means the server restarted, maybe
without any of our connections failing yet; the node then goes down and is flushed before it is
used again. That also keeps ``cas`` safe: memcached numbers items from 1 again after a restart,
so a unique from before it could match an unrelated item, and a token from before a fall of the
node is refused (``Node.falls``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from pymemcache.client.base import Client, PooledClient

from dalcore import register_secret

#: Reading a handshake reply stops with an error beyond this many bytes (stats is ~2 KiB).
MAX_HANDSHAKE_REPLY: Final = 64 * 1024

#: A key for the authentication ``set``; memcached ignores it (nothing is stored).
AUTH_KEY: Final = b"dalcore-auth"

Incarnation = tuple[int, int]


class AuthenticationFailed(Exception):
    """The server refused the credentials, or wants some and the URL has none.

    Its message names the server and the user, never the password.
    """


class ServerRestarted(Exception):
    """A new connection found another server process than the one used before."""


@dataclass(frozen=True)
class Credentials:
    """A user and password for memcached's ASCII authentication; the password never prints."""

    user: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        # The server splits "<user> <password>" at the first space and reads the authfile as
        # "user:password" lines, so a user may hold neither; CR/LF would break the command.
        if not self.user or any(c in self.user for c in " :\r\n\0"):
            raise ValueError("the memcached user must be non-empty, without spaces or ':'")
        if not self.password or any(c in self.password for c in "\r\n\0"):
            raise ValueError("the memcached password must be non-empty, on one line")
        register_secret(self.password)

    def payload(self) -> bytes:
        return f"{self.user} {self.password}".encode()


def tls_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """A client TLS context: the server's certificate is verified (against ``ca``, or the
    system's CAs) with its host name; ``cert``/``key`` is the client certificate, if any.

    OSError/ssl.SSLError when a file is missing or does not hold what it should.
    """
    context = ssl.create_default_context(cafile=ca or None)
    if cert:
        context.load_cert_chain(cert, key or None)
    return context


def _read_reply(sock: socket.socket, done: Callable[[bytes], bool]) -> bytes:
    buf = b""
    while not done(buf):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("memcached closed the connection during the handshake")
        buf += chunk
        if len(buf) > MAX_HANDSHAKE_REPLY:
            raise ConnectionError("memcached sent an oversized handshake reply")
    return buf


def authenticate(sock: socket.socket, credentials: Credentials, server: str) -> None:
    payload = credentials.payload()
    sock.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (AUTH_KEY, len(payload), payload))
    line = _read_reply(sock, lambda buf: buf.endswith(b"\r\n")).rstrip(b"\r\n")
    if line == b"STORED":
        return
    if line.startswith(b"CLIENT_ERROR"):
        raise AuthenticationFailed(
            f"memcached {server} refused user {credentials.user!r}: "
            f"{line[13:].decode('ascii', 'replace')} (check the URL's password and the "
            "server's -Y auth file)"
        )
    # A server without -Y stores the item; any other answer is not memcached's protocol.
    raise ConnectionError(f"unexpected answer to authentication: {line[:40]!r}")


def incarnation(sock: socket.socket, server: str) -> Incarnation:
    """The server's (pid, start time) from ``stats``."""
    sock.sendall(b"stats\r\n")
    reply = _read_reply(
        sock,
        lambda buf: (
            buf.endswith(b"END\r\n")
            or (
                buf.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR"))
                and buf.endswith(b"\r\n")
            )
        ),
    )
    if reply.startswith(b"CLIENT_ERROR unauthenticated"):
        raise AuthenticationFailed(
            f"memcached {server} requires authentication: give user:password@ in the URL"
        )
    stats: dict[bytes, bytes] = {}
    for line in reply.split(b"\r\n"):
        parts = line.split(b" ", 2)
        if len(parts) == 3 and parts[0] == b"STAT":
            stats[parts[1]] = parts[2]
    try:
        pid, now, uptime = int(stats[b"pid"]), int(stats[b"time"]), int(stats[b"uptime"])
    except (KeyError, ValueError):
        raise ConnectionError(f"unexpected answer to stats: {reply[:40]!r}") from None
    # Both are read from the same clock tick, so the difference is exactly the start time.
    return pid, now - uptime


class Connection(Client):  # type: ignore[misc]
    """pymemcache's connection, with the handshake run on every new socket."""

    #: Set by :class:`Pool`; runs on the fresh socket and returns the server's incarnation.
    handshake: Callable[[Connection], Incarnation] | None = None
    #: The incarnation of the server at the other end (None until connected).
    incarnation: Incarnation | None = None

    def _connect(self) -> None:
        self.incarnation = None
        super()._connect()
        if self.handshake is not None:
            try:
                self.incarnation = self.handshake(self)
            except BaseException:
                self.close()
                raise


class Pool(PooledClient):  # type: ignore[misc]
    """pymemcache's pool of :class:`Connection`, each running ``handshake`` when it connects."""

    client_class = Connection

    def __init__(self, *args: Any, handshake: Callable[[Connection], Incarnation], **kw: Any):
        super().__init__(*args, **kw)
        self.handshake = handshake

    def _create_client(self) -> Connection:
        conn: Connection = super()._create_client()
        conn.handshake = self.handshake
        return conn
