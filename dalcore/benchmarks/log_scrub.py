"""Cost of secret scrubbing per emitted log record (dalcore/_secrets.py).

Run: ``python dalcore/benchmarks/log_scrub.py``. Times one DEBUG record through a StreamHandler
with the scrubbing record factory and without it: an ordinary message, and one that names a
token header (which runs the pattern regexes).
"""

from __future__ import annotations

import io
import logging
import timeit

import dalcore
from dalcore import _secrets


def main() -> None:
    dalcore.register_secret("pw-Zq7xK2vL9mR4")
    log = logging.getLogger("bench.scrub")
    log.addHandler(logging.StreamHandler(io.StringIO()))
    log.setLevel(logging.DEBUG)
    log.propagate = False
    plain = (
        "HTTP response for %(method)s %(url)s: status code: %(code)s",
        {"method": "GET", "url": "http://10.0.0.5/redfish/v1/Systems/1", "code": 200},
    )
    header = (
        "HTTP request: %s; headers: %s",
        ("GET /redfish/v1", {"Accept": "application/json", "X-Auth-Token": "abcdef0123"}),
    )
    n = 20000

    def per_record(fmt: str, args: dict[str, object] | tuple[object, ...]) -> float:
        if isinstance(args, dict):
            mapping = args

            def run() -> None:
                log.debug(fmt, mapping)
        else:
            positional = args

            def run() -> None:
                log.debug(fmt, *positional)

        return min(timeit.repeat(run, number=n, repeat=5)) / n * 1e6

    on = per_record(*plain), per_record(*header)
    assert _secrets._previous_factory is not None
    logging.setLogRecordFactory(_secrets._previous_factory)
    off = per_record(*plain), per_record(*header)
    print(
        f"ordinary record: {off[0]:.1f} -> {on[0]:.1f} us; "
        f"record with a token header: {off[1]:.1f} -> {on[1]:.1f} us"
    )


if __name__ == "__main__":
    main()
