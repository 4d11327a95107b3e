"""Measure etcd v3 Python clients side by side against one real etcd, and the dalcore store.

    python plugins/dalcore-etcd/bench_clients.py                 # starts its own etcd
    python plugins/dalcore-etcd/bench_clients.py --endpoint 127.0.0.1:2379 --rounds 9

Candidates: the raw gRPC stubs shipped in etcd-sdk-python (``pyetcd.etcdrpc``), that package's
client class (``pyetcd.client``), ``etcd3gw`` (HTTP grpc-gateway; skipped if not installed) and
``etcd3`` (skipped when it does not import, as with protobuf >= 4). Rounds interleave the
clients so that machine load hits them alike; each figure is the median over rounds of the mean
time per call. The store's ``get`` is reported as a ratio to the fastest raw client ``get``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

Op = Callable[[], Any]


def etcd_server() -> Any:
    from dalcore.testing.servers import etcd_member

    return etcd_member("bench")


def candidates(endpoint: str, key: bytes, stack: ExitStack) -> dict[str, tuple[Op, Op]]:
    """name -> (get, put) closures, each doing one call on an existing key."""
    host, port = endpoint.rsplit(":", 1)
    found: dict[str, tuple[Op, Op]] = {}

    import grpc
    from pyetcd import etcdrpc

    channel = grpc.insecure_channel(endpoint)
    stack.callback(channel.close)
    kv = etcdrpc.KVStub(channel)
    get_request = etcdrpc.RangeRequest(key=key)
    found["grpc stubs (pyetcd.etcdrpc)"] = (
        lambda: kv.Range(get_request, timeout=5),
        lambda: kv.Put(etcdrpc.PutRequest(key=key, value=b"v" * 100), timeout=5),
    )

    # What the store sends on every call: etcd's "require leader" metadata.
    leader = (("hasleader", "true"),)
    found["grpc stubs + hasleader metadata"] = (
        lambda: kv.Range(get_request, timeout=5, metadata=leader),
        lambda: kv.Put(etcdrpc.PutRequest(key=key, value=b"v" * 100), timeout=5, metadata=leader),
    )

    import pyetcd

    sdk = pyetcd.client(host=host, port=int(port), timeout=5)
    stack.callback(sdk.close)
    found["etcd-sdk-python client"] = (lambda: sdk.get(key), lambda: sdk.put(key, b"v" * 100))

    try:
        import etcd3gw
    except ImportError as exc:
        print(f"etcd3gw skipped: {exc}")
    else:
        gateway = etcd3gw.client(host=host, port=int(port), timeout=5)
        found["etcd3gw (HTTP gateway)"] = (
            lambda: gateway.get(key),
            lambda: gateway.put(key, b"v" * 100),
        )

    try:
        import etcd3
    except Exception as exc:  # protobuf >= 4 breaks it at import time
        print(f"etcd3 skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    else:
        legacy = etcd3.client(host=host, port=int(port), timeout=5)
        found["etcd3 0.12"] = (lambda: legacy.get(key), lambda: legacy.put(key, b"v" * 100))

    import dalcore

    prefix = f"bench-{uuid.uuid4().hex}"
    store = dalcore.open_persistent(f"etcd://{endpoint}/{prefix}")
    stack.callback(store.close)
    store.set("k", b"v" * 100)
    found["dalcore EtcdStore"] = (lambda: store.get("k"), lambda: store.set("k", b"v" * 100))
    return found


def mean_us(op: Op, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        op()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="host:port of a running etcd (default: start one)")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--gets", type=int, default=300, help="get calls per client per round")
    parser.add_argument("--puts", type=int, default=50, help="put calls per client per round")
    args = parser.parse_args()
    with ExitStack() as stack:
        endpoint = args.endpoint or stack.enter_context(etcd_server())
        key = f"/bench-{uuid.uuid4().hex}".encode()
        clients = candidates(endpoint, key, stack)
        for get, put in clients.values():  # warm up channels, connections and caches
            put()
            for _ in range(50):
                get()
        gets: dict[str, list[float]] = {name: [] for name in clients}
        puts: dict[str, list[float]] = {name: [] for name in clients}
        order = list(clients)
        for _ in range(args.rounds):
            order.reverse()  # no client always runs right after another
            for name in order:
                get, put = clients[name]
                gets[name].append(mean_us(get, args.gets))
                puts[name].append(mean_us(put, args.puts))
        print(f"\netcd at {endpoint}; median of {args.rounds} rounds, microseconds per call")
        print(f"{'client':34} {'get':>7} {'put':>7}")
        median = {name: statistics.median(values) for name, values in gets.items()}
        for name in clients:
            print(f"{name:34} {median[name]:7.0f} {statistics.median(puts[name]):7.0f}")
        raw = [name for name in clients if not name.startswith("dalcore")]
        fastest = min(raw, key=median.__getitem__)
        # Paired per round (the machine's load drifts between rounds), then the median.
        ratios = [
            store / min(gets[name][index] for name in raw)
            for index, store in enumerate(gets["dalcore EtcdStore"])
        ]
        print(
            f"\nstore get / fastest raw get: {statistics.median(ratios):.3f} per round (median), "
            f"{median['dalcore EtcdStore'] / median[fastest]:.3f} on medians "
            f"(fastest: {fastest}; target <= 1.2)"
        )
        overhead = client_overhead_us(clients["grpc stubs (pyetcd.etcdrpc)"][0], endpoint)
        print(f"store get's own Python work: {overhead:.1f} us per call (no network)")


def client_overhead_us(raw_get: Op, endpoint: str) -> float:
    """What the store adds to a raw Range call, timed with the RPC replaced by a canned reply."""
    import dalcore

    with dalcore.open_persistent(f"etcd://{endpoint}/overhead-{uuid.uuid4().hex}") as store:
        store.set("k", b"v" * 100)
        reply = raw_get()  # any RangeResponse with one kv will do
        conn: Any = store._conn  # type: ignore[attr-defined]
        member = conn.members[conn.current]
        member.kv = type("CannedKV", (), {"Range": staticmethod(lambda *a, **k: reply)})()
        calls = 100_000
        started = time.perf_counter()
        for _ in range(calls):
            store.get("k")
        return (time.perf_counter() - started) / calls * 1e6


if __name__ == "__main__":
    main()
