"""Helpers for the plugin's tests: real memcached servers and raw access to them.

A module of its own (not conftest) so tests can import it under a name no other suite uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymemcache.client.base import Client

from dalcore.testing import ServerProcess, free_port, require_binary


def memcached_server(port: int | None = None, extra: Sequence[str] = ()) -> ServerProcess:
    """A (not yet started) memcached on a free loopback port, 16 MiB, UDP off; ``extra`` are
    more options (TLS, auth file)."""
    binary = require_binary("memcached")
    port = port or free_port()
    base = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-u", "root", "-m", "16"]
    return ServerProcess("memcached", lambda: [*base, *extra], port)


def raw_client(server: ServerProcess) -> Client:
    """A plain pymemcache client (no serde) to look at what is really on a server."""
    return Client(("127.0.0.1", server.port), connect_timeout=2, timeout=2, default_noreply=False)


def url_of(servers: list[ServerProcess], query: str = "") -> str:
    hosts = ",".join(f"127.0.0.1:{server.port}" for server in servers)
    return f"memcached://{hosts}" + (f"?{query}" if query else "")


def flush(servers: list[ServerProcess]) -> None:
    for server in servers:
        client = raw_client(server)
        try:
            client.flush_all(noreply=False)
        finally:
            client.close()
