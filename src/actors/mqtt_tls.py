"""The TLS side of a site's connection: the ``ssl`` context built from its settings.

Called by ``mqtt_port`` when it makes a client for a connect attempt, on the SiteActor's
thread. No paho here; failures are put into words by ``mqtt_failures.describe_failure``.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from typing import TYPE_CHECKING

from sitelink.tls_pem import client_cert_expired

if TYPE_CHECKING:
    from sitelink.actors.mqtt_port import BrokerConfig


class ClientCertificateInvalid(ValueError):
    """Our own client certificate is not valid now; the message says why, in words."""


def tls_context(config: BrokerConfig) -> ssl.SSLContext:
    """The TLS context of a site: its CA (or the system's), host name checking unless turned
    off, and its client certificate when it has one.

    ``ssl`` loads a certificate chain only from files, so the certificate and key are
    written to a private temporary file (mode 0600 from ``mkstemp``) and removed at once."""
    context = ssl.create_default_context(cadata=config.tls_ca_pem or None)
    if not config.tls_verify_hostname:
        context.check_hostname = False
    if config.tls_client_cert_pem and config.tls_client_key_pem:
        expired = client_cert_expired(config.tls_client_cert_pem)
        if expired is not None:  # the broker would refuse it; say why, with the date
            raise ClientCertificateInvalid(expired)
        handle, path = tempfile.mkstemp(prefix="sitelink-client-", suffix=".pem")
        try:
            with os.fdopen(handle, "w") as pem:
                pem.write(config.tls_client_cert_pem.strip() + "\n")
                pem.write(config.tls_client_key_pem.strip() + "\n")
            context.load_cert_chain(path)
        finally:
            os.unlink(path)
    return context
