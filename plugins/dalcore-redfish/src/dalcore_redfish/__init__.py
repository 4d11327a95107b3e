"""dalcore-redfish: hybrid dynamics whose values live in hardware, read through Redfish.

Declare what a dynamic reads with a source, and dalcore caches it for the dynamic's timeout::

    Dynamic("power_state", str, 5, source=system_attribute("PowerState"))

The client layer (sushy) loads lazily on the first read. Example hybrids are in
:mod:`dalcore_redfish.examples`, which this package deliberately does not import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dalcore_redfish.actions import RESET_TYPES, reset
from dalcore_redfish.credentials import (
    CredentialProvider,
    Credentials,
    EnvironmentProvider,
    FileProvider,
    Secret,
    add_provider,
    clear_providers,
)
from dalcore_redfish.errors import (
    ActionError,
    BMCAuthenticationError,
    BMCCertificateError,
    BMCServerError,
    BMCUnreachableError,
    MalformedResponseError,
    RedfishConfigurationError,
    RedfishError,
    ResourceNotFoundError,
)
from dalcore_redfish.sources import (
    RedfishSource,
    ServiceRootAttribute,
    ServiceRootStatus,
    SystemAttribute,
    SystemNICs,
    service_root_attribute,
    service_root_status,
    system_attribute,
    system_nics,
)

if TYPE_CHECKING:
    from dalcore_redfish.client import BMCOptions

__version__ = "0.1.0"

__all__ = [
    "RESET_TYPES",
    "ActionError",
    "BMCAuthenticationError",
    "BMCCertificateError",
    "BMCServerError",
    "BMCUnreachableError",
    "CredentialProvider",
    "Credentials",
    "EnvironmentProvider",
    "FileProvider",
    "MalformedResponseError",
    "RedfishConfigurationError",
    "RedfishError",
    "RedfishSource",
    "ResourceNotFoundError",
    "Secret",
    "ServiceRootAttribute",
    "ServiceRootStatus",
    "SystemAttribute",
    "SystemNICs",
    "__version__",
    "add_provider",
    "clear_providers",
    "close_all",
    "configure_bmc",
    "reset",
    "service_root_attribute",
    "service_root_status",
    "system_attribute",
    "system_nics",
]


def configure_bmc(address: str | None = None, **options: object) -> BMCOptions:
    """Options for one BMC or all: ``verify`` (True/False/CA path), timeouts, retries, backoff.

    See :func:`dalcore_redfish.client.configure_bmc`; kept here as a thin wrapper so importing
    this package does not import sushy.
    """
    from dalcore_redfish.client import configure_bmc as configure

    return configure(address, **options)


def close_all() -> None:
    """Close every BMC client of this process (also done at exit, if any client was made)."""
    from dalcore_redfish.client import close_all as close

    close()
