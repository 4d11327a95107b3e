"""A pod manager's credentials: references in the stored document, never the secret itself."""

from __future__ import annotations

import glob
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import dalcore
from dalcore.compat.valence import (
    CredentialError,
    FileCredentials,
    register_credential_provider,
    resolve_authentication,
)

PASSWORD = "Sup3r-s3cret-BMC-pa55"


def basic(password: str = PASSWORD, user: str = "admin") -> list[dict[str, Any]]:
    return [{"type": "basic", "auth_items": {"username": user, "password": password}}]


def basic_ref(ref: str) -> list[dict[str, Any]]:
    return [{"type": "basic", "auth_items": {"username": "admin", "password_ref": ref}}]


def everything_stored(url: str) -> bytes:
    """Every stored value, and for SQLite every byte of the database files on disk."""
    store = dalcore.runtime().store
    data = b"".join(entry.key.encode() + entry.value for entry in store.scan(""))
    if url.startswith("sqlite:///"):
        for path in glob.glob(url[len("sqlite://") :] + "*"):  # the db, -wal and -shm files
            data += Path(path).read_bytes()
    return data


def driver() -> Any:
    from valence_models import get_driver

    return get_driver()


def test_plaintext_is_refused_without_a_provider_that_keeps_secrets(backend: str) -> None:
    with pytest.raises(CredentialError) as caught:
        driver().create_podmanager({"name": "p", "authentication": basic()})
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, dalcore.ValidationError)
    assert error.field == "authentication[0].auth_items.password"
    assert "refusing to store a plaintext secret" in str(error)
    assert PASSWORD not in str(error) and error.value is None
    assert list(dalcore.runtime().store.keys("/pod_managers/")) == []


def test_env_reference_is_stored_and_resolved(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODM_1_PASSWORD", PASSWORD)
    podm = driver().create_podmanager(
        {"name": "p", "authentication": basic_ref("env:PODM_1_PASSWORD")}
    )
    document = json.loads(dalcore.runtime().store.get(f"/pod_managers/{podm.uuid}").value)
    assert document["authentication"] == basic_ref("env:PODM_1_PASSWORD")
    assert PASSWORD.encode() not in everything_stored(backend)
    loaded = driver().get_podmanager_by_uuid(podm.uuid)
    assert resolve_authentication(loaded.authentication) == basic()
    monkeypatch.delenv("PODM_1_PASSWORD")
    with pytest.raises(CredentialError, match="environment variable is not set"):
        resolve_authentication(loaded.authentication)


def test_unknown_reference_scheme_is_refused_on_assignment(backend: str) -> None:
    with pytest.raises(CredentialError, match="known scheme"):
        driver().create_podmanager({"name": "p", "authentication": basic_ref("vault:podm/1")})
    with pytest.raises(CredentialError, match="known scheme"):
        driver().create_podmanager({"name": "p", "authentication": basic_ref("no-scheme")})


def test_invalid_authentication_never_echoes_the_value(backend: str) -> None:
    with pytest.raises(dalcore.ValidationError) as caught:
        driver().create_podmanager({"name": "p", "authentication": [f"admin:{PASSWORD}"]})
    assert caught.value.field == "authentication"
    assert PASSWORD not in str(caught.value) and caught.value.value is None
    with pytest.raises(CredentialError) as caught_type:
        driver().create_podmanager(
            {"name": "p", "authentication": [{"auth_items": {"password": 12345678}}]}
        )
    assert "12345678" not in str(caught_type.value)


def test_file_provider_keeps_plaintext_out_of_the_store(backend: str, tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    register_credential_provider(FileCredentials(str(secrets_dir)), default=True)
    podm = driver().create_podmanager({"name": "p", "authentication": basic()})
    ref = podm.authentication[0]["auth_items"]["password_ref"]
    assert ref.startswith(f"file:pod_managers-{podm.uuid}-0-password-")
    assert "password" not in podm.authentication[0]["auth_items"]
    assert PASSWORD.encode() not in everything_stored(backend)
    secret_file = secrets_dir / ref.partition(":")[2]
    assert secret_file.read_text() == PASSWORD
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    loaded = driver().get_podmanager_by_uuid(podm.uuid)
    assert resolve_authentication(loaded.authentication) == basic()

    # New credentials replace the old ones: the old secret file goes, the new one is sealed.
    driver().update_podmanager(podm.uuid, {"authentication": basic("N3w-pa55word")})
    assert not secret_file.exists()
    assert len(os.listdir(secrets_dir)) == 1
    assert b"N3w-pa55word" not in everything_stored(backend)
    assert resolve_authentication(driver().get_podmanager_by_uuid(podm.uuid).authentication) == (
        basic("N3w-pa55word")
    )
    # An update not touching credentials keeps them.
    driver().update_podmanager(podm.uuid, {"status": "online"})
    assert len(os.listdir(secrets_dir)) == 1

    driver().delete_podmanager(podm.uuid)
    assert os.listdir(secrets_dir) == []


def test_failed_create_leaves_no_secret_and_keeps_the_existing_one(
    backend: str, tmp_path: Path
) -> None:
    secrets_dir = tmp_path / "secrets"
    register_credential_provider(FileCredentials(str(secrets_dir)), default=True)
    first = driver().create_podmanager({"uuid": "podm-1", "authentication": basic()})
    with pytest.raises(dalcore.AlreadyExistsError):
        driver().create_podmanager({"uuid": "podm-1", "authentication": basic("other")})
    assert len(os.listdir(secrets_dir)) == 1
    loaded = driver().get_podmanager_by_uuid("podm-1")
    assert loaded.authentication == first.authentication
    assert resolve_authentication(loaded.authentication) == basic()


def test_references_given_by_the_caller_are_never_removed(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets_dir = tmp_path / "secrets"
    provider = FileCredentials(str(secrets_dir))
    register_credential_provider(provider, default=True)
    provider.store("shared-bmc", PASSWORD)  # one secret used by several pod managers
    podm = driver().create_podmanager({"name": "p", "authentication": basic_ref("file:shared-bmc")})
    monkeypatch.setenv("PODM_PASSWORD", "x")
    driver().update_podmanager(podm.uuid, {"authentication": basic_ref("env:PODM_PASSWORD")})
    driver().delete_podmanager(podm.uuid)
    assert os.listdir(secrets_dir) == ["shared-bmc"]


def test_file_provider_refuses_names_outside_its_directory(tmp_path: Path) -> None:
    provider = FileCredentials(str(tmp_path))
    with pytest.raises(CredentialError, match="not a valid secret file name"):
        provider.resolve("../etc/passwd")
    provider.store("a", "1")
    with pytest.raises(CredentialError, match="cannot write secret file"):
        provider.store("a", "2")  # never overwrites
    assert provider.resolve("a") == "1"


def test_secret_of_a_save_that_lost_the_merge_is_forgotten(backend: str, tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    register_credential_provider(FileCredentials(str(secrets_dir)), default=True)
    podm = driver().create_podmanager({"name": "p", "authentication": basic()})
    mine = driver().get_podmanager_by_uuid(podm.uuid)
    driver().update_podmanager(podm.uuid, {"authentication": basic("Theirs-pa55")})
    mine.authentication = basic("Mine-pa55")
    mine.save(datastore_wins=True)  # the stored credentials win the field merge
    assert resolve_authentication(mine.authentication) == basic("Theirs-pa55")
    assert len(os.listdir(secrets_dir)) == 1
    loaded = driver().get_podmanager_by_uuid(podm.uuid)
    assert resolve_authentication(loaded.authentication) == basic("Theirs-pa55")


def test_a_document_valence_wrote_is_updated_without_a_provider_then_sealed_with_one(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from valence_models import PodManager

    from dalcore.compat import _credentials

    monkeypatch.setattr(_credentials, "_warned_plaintext", False)  # warned once per process

    # A pod manager as Valence stored it: the password in plaintext, straight in the store.
    uuid = "6d1b1a2c-5c38-4c8b-9f64-3a2b1c0d9e8f"
    key = f"/pod_managers/{uuid}"
    valence_document = {"uuid": uuid, "name": "p", "url": "https://old", "authentication": basic()}
    dalcore.runtime().store.set(key, json.dumps(valence_document).encode())
    from dalcore.compat.valence import plaintext_credentials

    found = plaintext_credentials(PodManager)
    assert found == [("PodManager", uuid, "authentication[0].auth_items.password")]
    from dalcore._ops.check import check

    report = check(dalcore.runtime(), [PodManager])  # what `dalcore check` runs
    assert report.found["plaintext-credential"] == 1
    # No provider: changing something else keeps what Valence stored, with a warning.
    driver().update_podmanager(uuid, {"url": "https://new"})
    stored = json.loads(dalcore.runtime().store.get(key).value)
    assert stored["url"] == "https://new" and stored["authentication"] == basic()
    assert "plaintext secret, as Valence stored it" in caplog.text and PASSWORD not in caplog.text
    # A new plaintext password is still refused without a provider.
    with pytest.raises(CredentialError, match="refusing to store a plaintext secret"):
        driver().update_podmanager(uuid, {"authentication": basic("a-new-secret")})
    # With a provider, the next save moves the secret out of the document.
    register_credential_provider(FileCredentials(str(tmp_path / "secrets")), default=True)
    driver().update_podmanager(uuid, {"url": "https://newer"})
    stored = json.loads(dalcore.runtime().store.get(key).value)
    assert "password" not in stored["authentication"][0]["auth_items"]
    assert stored["authentication"][0]["auth_items"]["password_ref"].startswith("file:")
    assert plaintext_credentials(PodManager) == []
    assert check(dalcore.runtime(), [PodManager]).found["plaintext-credential"] == 0
    loaded = driver().get_podmanager_by_uuid(uuid)
    assert resolve_authentication(loaded.authentication) == basic()
