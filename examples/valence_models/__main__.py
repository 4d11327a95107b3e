"""A short tour: create a pod manager and a node, list, update, show the stored document."""

from __future__ import annotations

import json
import os

import dalcore
from dalcore.compat.valence import AlreadyExistsError

from . import get_driver


def main() -> None:
    dalcore.configure(os.environ.get("DALCORE_PERSISTENT", "memory://"), "memory://")
    os.environ.setdefault("PODM_DEMO_PASSWORD", "not-in-the-database")
    driver = get_driver()
    podm = driver.create_podmanager(
        {
            "name": "rack-1",
            "url": "https://podm.example:8443",
            "driver": "redfishv1",
            "authentication": [
                {
                    "type": "basic",
                    "auth_items": {"username": "admin", "password_ref": "env:PODM_DEMO_PASSWORD"},
                }
            ],
        }
    )
    node = driver.create_composed_node({"name": "node-1", "podm_id": podm.uuid, "index": "1"})
    print(
        "pod managers named rack-1:", [p.uuid for p in driver.list_podmanager({"name": "rack-1"})]
    )
    print("node's pod manager:", driver.get_podmanager_by_node_uuid(node.uuid).name)
    driver.update_podmanager(podm.uuid, {"status": "online"})
    raw = dalcore.runtime().store.get(podm.etcd_path(podm.uuid)).value
    print(podm.etcd_path(podm.uuid), json.dumps(json.loads(raw), indent=2, sort_keys=True))
    try:
        driver.create_podmanager({"uuid": podm.uuid, "name": "again"})
    except AlreadyExistsError as exc:
        print("duplicate refused:", exc)


if __name__ == "__main__":
    main()
