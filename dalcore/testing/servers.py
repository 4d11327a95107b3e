"""Start real servers (etcd, memcached, sushy-emulator, ...) for tests and benchmarks.

Each server gets free loopback ports and, where it keeps data, a temporary directory; it is
stopped (and its directory removed) when the test is done. Nothing here is a fake.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

__all__ = [
    "ServerProcess",
    "etcd_member",
    "free_port",
    "require_binary",
    "wait_for_port",
    "wait_until_serving",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts connections on ``host:port``; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from exc
            time.sleep(0.05)


def wait_until_serving(url: str, timeout: float = 30.0) -> None:
    """Block until the persistent store at ``url`` answers a read.

    A server may accept connections before it can answer (an etcd member elects itself leader
    first), so waiting for the port is not enough.
    """
    from dalcore import open_persistent
    from dalcore.errors import StoreUnavailableError

    deadline = time.monotonic() + timeout
    store = open_persistent(url)
    try:
        while True:
            try:
                store.exists("dalcore-health")
                return
            except StoreUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        store.close()


#: Set by the README's test command (and so by CI): a server or plugin that the README promises
#: and that is missing fails the tests instead of skipping them.
REQUIRE_SERVERS = "DALCORE_REQUIRE_SERVERS"


def _missing(what: str) -> NoReturn:
    import pytest

    if os.environ.get(REQUIRE_SERVERS) == "1":
        pytest.fail(f"{what} ({REQUIRE_SERVERS}=1: the README promises it)", pytrace=False)
    pytest.skip(what, allow_module_level=True)


def require_binary(name: str) -> str:
    """The path of ``name``; if it is missing, a skip naming it (a failure under
    ``DALCORE_REQUIRE_SERVERS=1``, which the test command sets)."""
    path = shutil.which(name)
    if path is None:
        _missing(f"{name} is not installed (the README's test command installs it)")
    return path


def require_module(name: str, reason: str) -> Any:
    """Import ``name``, or skip (fail under ``DALCORE_REQUIRE_SERVERS=1``) giving ``reason``."""
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"{name} cannot be imported: {reason}")


class ServerProcess:
    """A server subprocess listening on ``port``; stoppable, killable and restartable.

    ``argv`` is a callable so a restart can rebuild the command (same ports, same data dir).
    Output goes to a log file in ``workdir`` whose tail is shown if the server fails to start.
    """

    def __init__(
        self,
        name: str,
        argv: Callable[[], Sequence[str]],
        port: int,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        ready: Callable[[], None] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"dalcore-{name}-")
        self.env = env
        self.ready = ready
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(self.workdir, f"{name}.log")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> ServerProcess:
        environment = dict(os.environ, **(self.env or {}))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                list(self.argv()),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=self.workdir,
                start_new_session=True,  # so stop() can signal the server's own children too
            )
        try:
            if self.ready is not None:
                self.ready()
            else:
                wait_for_port(self.port, self.start_timeout)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {exc}\n{self.log_tail()}") from exc
        if not self.running:
            raise RuntimeError(f"{self.name} exited at start\n{self.log_tail()}")
        return self

    def _signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate gracefully (SIGTERM), then SIGKILL if it lingers."""
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout)
        self.process = None

    def kill(self) -> None:
        """Die at once (SIGKILL), as a crashed server would."""
        if self.process is None:
            return
        self._signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the server and remove its working directory if this object made it."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Within the block the server is down; it comes back on the same port afterwards."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@contextlib.contextmanager
def emptied_store(url: str) -> Iterator[Any]:
    """The store at ``url`` for a test; whatever is under it (the test's and its worker
    processes' writes) is removed and the store closed afterwards."""
    from dalcore import open_persistent

    opened = open_persistent(url)
    try:
        yield opened
    finally:
        try:
            opened.delete_prefix("")
        finally:
            opened.close()


@contextlib.contextmanager
def etcd_member(name: str = "dalcore", max_txn_ops: int | None = None) -> Iterator[str]:
    """A single-member etcd cluster on free loopback ports and a temporary data directory;
    yields its client address ``127.0.0.1:<port>`` once it listens. ``max_txn_ops`` raises
    etcd's limit of 128 operations per transaction (dalcore's bulk saves need more)."""
    binary = require_binary("etcd")
    client, peer = free_port(), free_port()

    def argv() -> list[str]:
        command = [
            binary,
            "--name", name,
            "--data-dir", os.path.join(server.workdir, "data"),
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"{name}=http://127.0.0.1:{peer}",
            "--log-level", "warn",
        ]  # fmt: skip
        if max_txn_ops is not None:
            command += ["--max-txn-ops", str(max_txn_ops)]
        return command

    server = ServerProcess(f"etcd-{name}", argv, client)
    with server:
        yield f"127.0.0.1:{client}"
