"""Which of the stored sites this instance runs, and who runs each one.

The runtime hands its site host only the sites its ``Ownership`` says it owns. Alone (SQLite,
or PostgreSQL without a cluster) an instance owns every site: ``SoleInstance``. In a cluster
the lease keeper (``sitelink.cluster``) owns the sites whose leases it holds and tells the
runtime when that set changes.
"""

from __future__ import annotations

from typing import Protocol


class Ownership(Protocol):
    def owns(self, site_id: int) -> bool:
        """This instance should run the site now."""


class SoleInstance:
    """The only instance: it owns every site."""

    def owns(self, site_id: int) -> bool:
        return True


class OwnsNothing:
    """An instance that runs no site: it answers the API and carries commands to the owner.
    Chosen by ``SITELINK_TEST_OWN_NO_SITES`` for the cluster's tests until leases decide."""

    def owns(self, site_id: int) -> bool:
        return False
