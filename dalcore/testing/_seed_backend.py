# The Backend hybrid exactly as the Open vStorage seed document writes it; only the three import
# lines differ (``ovs.dal.dataobject`` / ``ovs.dal.structures`` / ``ovs.dal.hybrids.backendtype``).
# It is kept verbatim on purpose, so formatting, line length and annotations are left as written.
# mypy: allow-untyped-defs
# ruff: noqa: E501, UP
# fmt: off
from dalcore import DataObject, Dynamic, Property, Relation
from dalcore.testing._seed_backendtype import BackendType


class Backend(DataObject):
    """
    A Backend represents an instance of the supported backend types that has been setup with the OVS GUI
    """
    __properties = [Property('name', str, doc='Name of the Backend.'),
                    Property('status', ['NEW', 'INSTALLING', 'RUNNING', 'STOPPED', 'FAILURE', 'UNKNOWN'], default='NEW', doc='State of the backend')]
    __relations = [Relation('backend_type', BackendType, 'backends', doc='Type of the backend.')]
    __dynamics = [Dynamic('linked_guid', str, 3600),
                  Dynamic('available', bool, 60)]

    def _linked_guid(self):
        """
        Returns the GUID of the detail object that's linked to this particular backend. This depends on the backend type.
        This requires that the backlink from that object to this object is named <backend_type>_backend and is a
        one-to-one relation
        """
        if self.backend_type.has_plugin is False:
            return None
        return getattr(self, f'{self.backend_type.code}_backend_guid')

    def _available(self):
        """
        Returns True if the backend can be used
        """
        if self.backend_type.has_plugin is False:
            return False
        linked_backend = getattr(self, f'{self.backend_type.code}_backend')
        if linked_backend is not None:
            return linked_backend.available
        return False
