"""Reading the reply to ``get k1 k2 ...`` (memcached's text protocol), for the read hot path.

pymemcache parses such a reply line by line, with several Python calls per value; for a
100-object list that parsing cost more than the network (see docs/memcached.md). Here the
reply is read in large chunks and cut by offsets, one ``find`` and one ``split`` per value.
Everything else (connections, pools, writes, counters) stays pymemcache's.

The reply is ``VALUE <key> <flags> <bytes>\\r\\n<data>\\r\\n`` per hit, then ``END\\r\\n``.
Values are located by their announced length, never by searching for ``END`` (a value may
contain it).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, Final

from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownError,
)

#: Bytes asked of the socket per recv: a whole reply of a few hundred small objects.
RECV_SIZE: Final = 64 * 1024

Decode = Callable[[bytes, bytearray, int], Any]


def get_command(keys: list[bytes]) -> bytes:
    return b"get " + b" ".join(keys) + b"\r\n"


def read_values(sock: socket.socket, decode: Decode) -> dict[bytes, Any]:
    """The values of one ``get`` reply, decoded by ``decode(key, data, flags)``.

    Raises pymemcache's exceptions: MemcacheUnexpectedCloseError when the connection ends
    mid-reply, MemcacheServerError/MemcacheClientError for an error line (the server answered),
    MemcacheUnknownError for anything else; socket errors and timeouts pass through. After any
    of them the connection's state is unknown and it must be closed.
    """
    buf = bytearray()
    found: dict[bytes, Any] = {}
    pos = 0
    while True:
        chunk = sock.recv(RECV_SIZE)
        if not chunk:
            raise MemcacheUnexpectedCloseError()
        if pos:  # drop what was parsed: the buffer keeps at most one unfinished value
            del buf[:pos]
            pos = 0
        buf += chunk
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if buf.startswith(b"VALUE ", pos):
                name, flags, size = buf[pos + 6 : eol].split()[:3]
                start = eol + 2
                end = start + int(size)
                if len(buf) < end + 2:
                    break  # the rest of this value is still on its way
                key = bytes(name)
                found[key] = decode(key, buf[start:end], int(flags))
                pos = end + 2
            elif eol == pos + 3 and buf.startswith(b"END", pos):
                if eol + 2 != len(buf):
                    raise MemcacheUnknownError(b"data after END")
                return found
            else:
                _raise_for(bytes(buf[pos:eol]))


def _raise_for(line: bytes) -> None:
    if line.startswith(b"SERVER_ERROR"):
        raise MemcacheServerError(line[13:].decode("ascii", "replace"))
    if line.startswith(b"CLIENT_ERROR"):
        raise MemcacheClientError(line[13:].decode("ascii", "replace"))
    raise MemcacheUnknownError(line[:32])
