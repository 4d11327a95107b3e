"""A ``locked`` dynamic read cold by many threads, and by several processes, costs one request.

Requests are counted in the emulator's own access log, so the count covers every thread and every
process. Processes share a real memcached (through dalcore-memcached) and an SQLite store.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dalcore_redfish import client
from dalcore_redfish.examples import ComposedNode, PodManager
from dalcore_redfish.sources import system_path
from dalcore_redfish.testing import RedfishServer, request_count
from redfish_data import NODE1, NODE2

from dalcore import configure
from dalcore.testing import ServerProcess, free_port, require_binary

THREADS = 16
PROCESSES = 4


def _cold_read(system: ComposedNode, count: int) -> list[Any]:
    barrier = threading.Barrier(count)
    values: list[Any] = []

    def read() -> None:
        barrier.wait()
        values.append(system.health)

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return values


def test_redfish_locked_dynamic_threads_cost_one_request(emulator: RedfishServer) -> None:
    configure(persistent="memory://", volatile="memory://")
    podm = PodManager(name="podm", url=emulator.url)
    podm.save()
    system = ComposedNode(name="n1", system_id=NODE1.uuid, pod_manager=podm)
    system.save()
    client.client_for(emulator.url).get_json("/redfish/v1/")  # connect before the race
    path = system_path(NODE1.uuid)
    before = request_count(emulator, "GET", path)
    assert _cold_read(system, THREADS) == ["OK"] * THREADS
    assert request_count(emulator, "GET", path) - before == 1


@pytest.fixture
def memcached() -> Iterator[ServerProcess]:
    pytest.importorskip("dalcore_memcached", reason="the multi-process case needs a shared cache")
    binary = require_binary("memcached")
    port = free_port()
    argv = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16"]
    if os.geteuid() == 0:
        argv += ["-u", "root"]
    server = ServerProcess("memcached", lambda: argv, port).start()
    try:
        yield server
    finally:
        server.close()


def _child(
    persistent: str,
    volatile: str,
    guid: str,
    bmc: str,
    barrier: Any,
    results: Any,
) -> None:
    """One process: load the node, connect to the BMC, then read ``health`` with the others."""
    try:
        configure(persistent=persistent, volatile=volatile)
        system = ComposedNode(guid)
        client.client_for(bmc).get_json("/redfish/v1/")
        barrier.wait(60)
        results.put(system.health)
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(f"{type(exc).__name__}: {exc}")


def test_redfish_locked_dynamic_processes_cost_one_request(
    emulator: RedfishServer, memcached: ServerProcess, tmp_path: os.PathLike[str]
) -> None:
    persistent = f"sqlite://{os.path.join(tmp_path, 'shared.db')}"
    volatile = f"memcached://127.0.0.1:{memcached.port}"
    configure(persistent=persistent, volatile=volatile)
    podm = PodManager(name="podm", url=emulator.url)
    podm.save()
    system = ComposedNode(name="n2", system_id=NODE2.uuid, pod_manager=podm)
    system.save()
    path = system_path(NODE2.uuid)
    before = request_count(emulator, "GET", path)

    context = multiprocessing.get_context("spawn")  # no inherited sockets, locks or clients
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    children = [
        context.Process(
            target=_child,
            args=(persistent, volatile, system.guid, emulator.url, barrier, results),
        )
        for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    try:
        values = [results.get(timeout=90) for _ in children]
    finally:
        for child in children:
            child.join(30)
    assert values == ["OK"] * PROCESSES
    assert request_count(emulator, "GET", path) - before == 1
    # And this process finds the value the winner cached, without asking the BMC.
    assert system.health == "OK"
    assert request_count(emulator, "GET", path) - before == 1
