"""Values as JSON (orjson) with a flag marking them as ours, and TTLs as memcached exptimes.

Never pickle: anyone who can write to memcached could then run code in every reader. A value
that does not decode (foreign flags, garbage bytes, a pickle) is reported to the caller as a
miss and logged; it is never executed and never raised into user code.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Final

import orjson

from dalcore.api import NO_VALUE

log = logging.getLogger("dalcore.memcached")

#: The memcached item flags every value written by this plugin carries ("JS").
JSON_FLAG: Final = 0x4A53

#: memcached reads an exptime above this many seconds (30 days) as a Unix timestamp.
MAX_RELATIVE_EXPTIME: Final = 30 * 24 * 3600

#: At most one log record per this many seconds for undecodable values (with a count).
WARN_INTERVAL: Final = 10.0

# Non-str dict keys become strings, as json.dumps does: the contract is "what json.dumps takes".
_DUMP_OPTIONS: Final = orjson.OPT_NON_STR_KEYS


def encode(value: Any) -> bytes:
    """The JSON bytes of ``value``; TypeError when it is not JSON-serialisable."""
    try:
        return orjson.dumps(value, option=_DUMP_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"value is not JSON-serialisable: {exc}") from None


def exptime(ttl: float | None, now: float | None = None) -> int:
    """The memcached exptime for a TTL in seconds (None: never expires).

    memcached's clock ticks once a second, so an item stored with exptime N lives between N-1
    and N seconds. Sending ``ceil(ttl) + 1`` makes every entry live at least ``ttl`` and at most
    ``ttl + 2`` seconds: a sub-second TTL is not lost at the next tick, and a lock taken for 5 s
    is not gone after 4.01. Beyond 30 days memcached wants an absolute Unix time instead,
    computed here from this machine's clock. A TTL of zero or less means already expired, which
    memcached spells as a negative exptime.
    """
    if ttl is None:
        return 0
    if ttl <= 0:
        return -1
    seconds = math.ceil(ttl) + 1
    if seconds <= MAX_RELATIVE_EXPTIME:
        return seconds
    return int(time.time() if now is None else now) + seconds


class JsonSerde:
    """pymemcache serde: bytes go out as they are (already encoded), JSON comes back decoded.

    Decoding happens inside pymemcache's read loop, so it must not raise: an exception there
    would abandon the rest of a multi-get response. A bad value becomes :data:`NO_VALUE`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_warning = -math.inf
        self._suppressed = 0

    def serialize(self, key: bytes, value: bytes) -> tuple[bytes, int]:
        return value, JSON_FLAG

    def deserialize(self, key: bytes, value: bytes | bytearray, flags: int) -> Any:
        if flags == JSON_FLAG:
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                self._undecodable(key, f"not JSON ({exc})", value)
                return NO_VALUE
        self._undecodable(key, f"flags {flags:#x} are not this plugin's {JSON_FLAG:#x}", value)
        return NO_VALUE

    def _undecodable(self, key: bytes, reason: str, value: bytes | bytearray) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_warning < WARN_INTERVAL:
                self._suppressed += 1
                return
            self._last_warning = now
            suppressed, self._suppressed = self._suppressed, 0
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        log.warning(
            "memcached value under %r ignored (read as a miss): %s; first bytes %r%s",
            key.decode("ascii", "replace"),
            reason,
            bytes(value[:32]),
            more,
        )
