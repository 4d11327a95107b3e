"""Real redis-server processes for the plugin's tests (a module of its own, not conftest, so
tests import it under a name no other suite uses)."""

from __future__ import annotations

from collections.abc import Sequence

from dalcore.testing import ServerProcess, free_port, require_binary


def redis_server(extra: Sequence[str] = (), port: int | None = None) -> ServerProcess:
    """A (not yet started) redis-server on a free loopback port, nothing persisted; ``extra``
    are more options (TLS, ACL users). With ``--port 0`` in ``extra`` give ``port`` (the TLS
    port) so that readiness is checked there."""
    binary = require_binary("redis-server")
    plain = free_port()
    port = port or plain

    def argv() -> list[str]:
        return [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(plain),
            "--save", "",
            "--appendonly", "no",
            "--dir", server.workdir,
            *extra,
        ]  # fmt: skip

    server = ServerProcess("redis", argv, port)
    return server
