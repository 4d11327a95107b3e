"""A real HTTP server behaving like a broken BMC, for the error paths the emulator cannot show.

Run as ``python -m dalcore_redfish.testing.misbehaving PORT``. It serves a valid service root and:

* ``/redfish/v1/Systems/garbled``   -- 200 with truncated JSON;
* ``/redfish/v1/Systems/list``      -- 200 with a JSON array instead of an object;
* ``/redfish/v1/Systems/flaky-N``   -- 503 for the first N requests, then a valid system;
* ``/redfish/v1/Systems/down``      -- always 503;
* ``/redfish/v1/Systems/unimplemented`` -- 501 (final: not worth retrying);
* ``/redfish/v1/Systems/echo``      -- 400 whose body repeats the Authorization header decoded,
  like a careless BMC would;
* anything else -- 404.

Each request is logged in the same format as sushy-emulator's access log.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = {
    "@odata.id": "/redfish/v1/",
    "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
    "Id": "Misbehaving",
    "Name": "Misbehaving BMC",
    "RedfishVersion": "1.5.0",
    "Systems": {"@odata.id": "/redfish/v1/Systems"},
}

_hits: dict[str, int] = {}
_lock = threading.Lock()


def _system(identity: str) -> dict[str, object]:
    return {
        "@odata.id": f"/redfish/v1/Systems/{identity}",
        "Id": identity,
        "PowerState": "On",
        "Status": {"State": "Enabled", "Health": "OK"},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: object) -> None:
        self._send(status, json.dumps(document).encode())

    def do_GET(self) -> None:
        path = self.path.rstrip("/")
        with _lock:
            _hits[path] = hits = _hits.get(path, 0) + 1
        flaky = re.fullmatch(r"/redfish/v1/Systems/flaky-(\d+)", path)
        if path in ("/redfish/v1", "/redfish"):
            self._json(200, ROOT)
        elif path == "/redfish/v1/Systems/garbled":
            self._send(200, b'{"PowerState": "On", "Status": {"Hea')
        elif path == "/redfish/v1/Systems/list":
            self._json(200, ["On"])
        elif flaky is not None:
            if hits <= int(flaky.group(1)):
                self._json(503, {"error": {"message": "busy"}})
            else:
                self._json(200, _system(path.rsplit("/", 1)[1]))
        elif path == "/redfish/v1/Systems/down":
            self._json(503, {"error": {"message": "busy"}})
        elif path == "/redfish/v1/Systems/unimplemented":
            self._json(501, {"error": {"message": "not implemented"}})
        elif path == "/redfish/v1/Systems/echo":
            header = self.headers.get("Authorization", "")
            decoded = ""
            if header.startswith("Basic "):
                decoded = base64.b64decode(header[6:]).decode(errors="replace")
            self._json(400, {"error": {"message": f"bad request from {decoded}"}})
        else:
            self._json(404, {"error": {"message": f"{path} not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._json(404, {"error": {"message": "no such service"}})

    do_DELETE = do_POST


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
