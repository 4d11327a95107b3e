"""Backend URLs: ``scheme://[user[:password]@]host[:port][,host[:port]...][/path][?k=v&...]``."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, unquote

from dalcore import _secrets
from dalcore.errors import InvalidURLError

_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):(.*)$", re.IGNORECASE | re.DOTALL)
_PORT_LIKE = re.compile(r"^[0-9]+(/.*)?$", re.DOTALL)
# Characters left as they are when a path is written back out; "%", "?" and "#" are escaped so
# that str() parses back to the same path.
_PATH_SAFE = "/:@!$&'()*+,;="


@dataclasses.dataclass(frozen=True)
class BackendURL:
    """A parsed backend URL.

    Unlike :func:`urllib.parse.urlsplit` this keeps several ``host:port`` pairs (cluster members)
    and never loses a password containing ``@`` or ``:`` (they must be percent-encoded).
    """

    scheme: str
    hosts: tuple[tuple[str, int | None], ...] = ()
    path: str = ""
    query: Mapping[str, str] = dataclasses.field(default_factory=dict)
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> BackendURL:
        match = _SCHEME.match(url.strip())
        if not match:
            raise InvalidURLError(url, "expected scheme://...")
        scheme, rest = match.group(1).lower(), match.group(2)
        if not rest.startswith("//"):
            # "sqlite:relative.db": no authority at all, everything is the path.
            path, _, query = rest.partition("?")
            if _PORT_LIKE.match(path):
                # "localhost:2379" would otherwise read as scheme "localhost" with path "2379".
                raise InvalidURLError(url, "no scheme; write e.g. etcd://host:port")
            return cls(scheme, path=unquote(path), query=_query(url, query))
        rest = rest[2:]
        rest, _, query = rest.partition("?")
        authority, slash, path = rest.partition("/")
        username = password = None
        if "@" in authority:
            userinfo, _, authority = authority.rpartition("@")
            user, colon, secret = userinfo.partition(":")
            username = unquote(user)
            password = unquote(secret) if colon else None
            # Masked in every log record from now on, whichever library logs it.
            _secrets.register(password)
        hosts = tuple(_host(url, part) for part in authority.split(",") if part)
        return cls(
            scheme,
            hosts=hosts,
            path=slash + unquote(path),
            query=_query(url, query),
            username=username,
            password=password,
        )

    @property
    def location(self) -> str:
        """Authority and path as written (for ``sqlite://``: the file name)."""
        return ",".join(_show_host(h, p) for h, p in self.hosts) + self.path

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    def float_param(self, name: str, default: float) -> float:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise InvalidURLError(str(self), f"{name}={raw!r} is not a number") from None

    def int_param(self, name: str, default: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise InvalidURLError(str(self), f"{name}={raw!r} is not an integer") from None

    def __str__(self) -> str:
        """The URL with the password masked, safe for logs and error messages."""
        user = ""
        if self.username is not None:
            user = quote(self.username, safe="") + (":***" if self.password is not None else "")
            user += "@"
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query.items())
        query = f"?{query}" if query else ""
        path = quote(self.path, safe=_PATH_SAFE)
        if not self.hosts and user == "" and path and not path.startswith("/"):
            # Written without "//", or "sqlite:x.db" would come back as host "x.db".
            return f"{self.scheme}:{path}{query}"
        hosts = ",".join(_show_host(h, p) for h, p in self.hosts)
        return f"{self.scheme}://{user}{hosts}{path}{query}"


def _host(url: str, part: str) -> tuple[str, int | None]:
    if part.startswith("["):  # [::1]:2379
        host, bracket, after = part[1:].partition("]")
        if not bracket:
            raise InvalidURLError(url, f"unclosed '[' in {part!r}")
        if after and not after.startswith(":"):
            raise InvalidURLError(url, f"expected ':port' after ']' in {part!r}")
        port = after[1:]
    else:
        host, _, port = part.partition(":")
        if host and ":" in port:
            # Guessing which colon starts the port of a bare IPv6 address goes wrong ("::1").
            raise InvalidURLError(url, f"IPv6 address in {part!r} must be in brackets: [::1]:2379")
    if not host:
        raise InvalidURLError(url, f"empty host in {part!r}")
    # Such a host cannot be written back out in a form that parses to the same host.
    if any(c.isspace() or not c.isprintable() or c in "[]" for c in host):
        raise InvalidURLError(url, f"blank, control or bracket character in host {part!r}")
    if not port:
        return host, None
    # isascii: str.isdigit() also accepts other scripts' digits, which int() would then take.
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise InvalidURLError(url, f"bad port in {part!r}")
    return host, int(port)


def _show_host(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _query(url: str, query: str) -> dict[str, str]:
    try:
        return dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError as exc:
        raise InvalidURLError(url, f"bad query string: {exc}") from None
