"""Typed errors of the Redfish plugin.

Each names the BMC (scheme://host:port, never user info) and the resource path, and, once a
dynamic loader has caught it, the object (class and guid). None ever carries a credential: the
reason text comes from the HTTP status or the transport's own error class name, and is scrubbed
of the password on top of that (see :func:`dalcore_redfish.credentials.scrub`).
"""

from __future__ import annotations

from dalcore.errors import ConfigurationError, DalcoreError


class RedfishError(DalcoreError):
    """Talking to a BMC about ``resource`` failed.

    ``owner``/``guid`` name the object whose dynamic or action hit it (None when raised outside
    a hybrid, e.g. by :meth:`BMCClient.get_json` directly).
    """

    def __init__(self, bmc: str, resource: str, reason: str, status: int | None = None) -> None:
        super().__init__(bmc, resource, reason)
        self.bmc = bmc
        self.resource = resource
        self.reason = reason
        self.status = status
        self.owner: str | None = None
        self.guid: str | None = None

    def about(self, owner: str, guid: str) -> RedfishError:
        """Attach the object this error concerns (the message then starts with it)."""
        self.owner, self.guid = owner, guid
        return self

    def __str__(self) -> str:
        where = f"Redfish {self.resource} at {self.bmc}"
        if self.owner is not None:
            where = f"{self.owner} {self.guid!r}: {where}"
        from dalcore_redfish.credentials import scrub  # here: credentials imports this module

        return scrub(f"{where}: {self.reason}")


class BMCUnreachableError(RedfishError, ConnectionError):
    """The BMC did not answer (refused, timed out, TLS handshake failed)."""


class BMCCertificateError(BMCUnreachableError):
    """The BMC's TLS certificate did not verify (give its CA with ``verify=path``)."""


class BMCAuthenticationError(RedfishError, PermissionError):
    """The BMC refused the credentials (401) or the account may not do this (403)."""


class ResourceNotFoundError(RedfishError, LookupError):
    """The BMC has no such resource (404): wrong system id or an unsupported resource."""


class MalformedResponseError(RedfishError):
    """The BMC answered, but not with the JSON document expected at this resource."""


class BMCServerError(RedfishError):
    """The BMC answered 5xx (after the bounded retries, for retryable statuses)."""


class ActionError(RedfishError):
    """The BMC rejected an action (400/405/409), or the action is not offered."""


class RedfishConfigurationError(ConfigurationError):
    """A Redfish source, address or BMC option cannot be used as given."""
