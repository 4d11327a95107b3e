"""Secrets kept out of log records, whichever library writes them.

Third-party clients the plugins drive log at DEBUG what they send and receive: sushy logs request
headers and the body of a BMC's error reply (which a careless BMC fills with the credentials it
was given), urllib3 logs URLs, grpc logs through Python. A password must not reach a log line
through any of them.

Two defences, applied to every :class:`logging.LogRecord` when it is created:

* **registered secrets**: whoever holds a live secret (a URL's password, a credential provider's
  answer, an auth token) calls :func:`register`; the secret and its percent-encoded and
  JSON-escaped forms are replaced by ``***`` wherever they appear;
* **patterns**: values of ``Authorization``/``X-Auth-Token`` headers, of quoted ``password``/
  ``token``/``secret`` fields (JSON bodies, dict reprs), of ``password=`` in query strings and
  of the password in ``scheme://user:password@host`` are masked even when nobody registered them.

Why a record factory and not a :class:`logging.Filter`: a filter on a logger sees only records
logged on that very logger, not those of its children (``sushy.connector``) propagating to the
root's handlers; a filter on handlers misses handlers added later (a test's ``caplog``, an
application's own). The factory runs in :meth:`logging.Logger.makeRecord` for every record of
every logger, before any handler, so every handler and formatter gets the scrubbed record. It
chains to the factory that was installed before it. :class:`SecretFilter` does the same for an
application that installs its own factory afterwards without chaining: put it on the handlers.

Secrets shorter than :data:`MIN_SECRET_LENGTH` are not masked by value (masking every ``ab``
would garble every log line); the patterns still apply to them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

__all__ = ["MASK", "MIN_SECRET_LENGTH", "SecretFilter", "install", "register", "scrub"]

MASK: Final = "***"

#: Registered secrets shorter than this are masked by the patterns only.
MIN_SECRET_LENGTH: Final = 4

#: The registry keeps the most recent this many forms (auth tokens are renewed for ever).
MAX_SECRETS: Final = 1024

# Key names whose quoted value is a secret: "Password", 'X-Auth-Token', "client_secret", ...
# (matched from the keyword on: a prefix such as "client_" stays as it is, and the regex
# does not try every position of the message as a possible start of a key).
_SECRET_KEY = r"(?:passw(?:or)?d|secret|token|authorization|api[_-]?key)"

_URL_USERINFO: Final = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@]*:)[^@\s/]+(@)")

_PATTERNS: Final[list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]]] = [
    # "password": "x", 'Password': 'x', password = "x" (JSON bodies, reprs of dicts and kwargs).
    (
        re.compile(
            rf"""(?i)({_SECRET_KEY}["']?\s*[:=]\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
        ),
        lambda match: f"{match[1]}{match[0][-1]}{MASK}{match[0][-1]}",
    ),
    # Header lines: "Authorization: Basic dXNlcjpwdw==", "X-Auth-Token: abc".
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization\s*:\s*(?:(?:basic|bearer|digest|token)\s+)?)\S+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(x-auth-token\s*:\s*)\S+"), rf"\1{MASK}"),
    # Query strings and form bodies: password=x&...
    (re.compile(rf"(?i)({_SECRET_KEY}=)[^&\s'\"]+"), rf"\1{MASK}"),
]

#: A message containing none of these (lower-cased) cannot match any of _PATTERNS.
_KEYWORDS: Final = ("passw", "secret", "token", "authoriz", "api_key", "api-key", "apikey")

_lock = threading.Lock()
_secrets: dict[str, None] = {}  # insertion ordered: the oldest go first when full
_by_value: re.Pattern[str] | None = None
_installed = False
_previous_factory: Callable[..., logging.LogRecord] | None = None
_formatter = logging.Formatter()


def register(secret: str | None) -> None:
    """Mask ``secret`` in every log record from now on (and install the record factory).

    Call it wherever a secret enters the process: parsing a URL with a password, a credential
    provider's answer, a token a server handed out. Registering twice is harmless.
    """
    install()
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return
    # As written, percent-encoded (URLs), JSON-escaped (bodies), and as repr() shows it (a dict
    # or tuple formatted into a message).
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    global _by_value
    with _lock:
        if forms <= _secrets.keys():
            return
        for form in forms:
            if len(form) >= MIN_SECRET_LENGTH:
                _secrets.pop(form, None)
                _secrets[form] = None
        while len(_secrets) > MAX_SECRETS:
            del _secrets[next(iter(_secrets))]
        _by_value = None  # compiled again by the next scrub


def _value_pattern() -> re.Pattern[str] | None:
    global _by_value
    pattern = _by_value
    if pattern is None:
        with _lock:
            if _by_value is None and _secrets:
                # Longest first, so a secret containing another is masked whole.
                ordered = sorted(_secrets, key=len, reverse=True)
                _by_value = re.compile("|".join(re.escape(form) for form in ordered))
            pattern = _by_value
    return pattern


def scrub(text: str) -> str:
    """``text`` with registered secrets and secret-looking values replaced by ``***``."""
    by_value = _value_pattern()
    if by_value is not None:
        text = by_value.sub(MASK, text)
    lower = text.lower()
    # Most messages hold none of the words the patterns look for: skip the regexes then.
    if any(word in lower for word in _KEYWORDS):
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
    if "://" in text and "@" in text:
        # URLs with user info: scheme://user:password@host.
        text = _URL_USERINFO.sub(rf"\1{MASK}\2", text)
    return text


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub ``record`` in place: its message, its exception text and its stack."""
    try:
        message = record.getMessage()
    except Exception:
        # Wrong arguments for the format: the handler reports that when it formats the record.
        return
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = _formatter.formatException(record.exc_info)
        clean = scrub(text)
        if clean != text:
            # Formatters use exc_text when it is set instead of formatting exc_info again.
            record.exc_text = clean
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _previous_factory is not None
    record = _previous_factory(*args, **kwargs)
    scrub_record(record)
    return record


def install() -> None:
    """Put the scrubbing record factory in place (once; chained to the one found there)."""
    global _installed, _previous_factory
    with _lock:
        if _installed:
            return
        _previous_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_factory)
        _installed = True


class SecretFilter(logging.Filter):
    """The same scrubbing as a handler filter, for applications that replace the record factory
    without chaining to the one they found."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True
