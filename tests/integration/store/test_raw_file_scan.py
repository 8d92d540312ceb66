"""The SQLite database files on disk hold no identifier in the clear (a scan of the bytes)."""

from __future__ import annotations

from pathlib import Path

from faker import Faker

from clientvault.identity.normalise import normalise_phone
from clientvault.identity.profiles import create_customers
from clientvault.identity.schemas import CustomerCreate
from clientvault.migrations.install import initialise
from clientvault.settings import Settings
from clientvault.store.context import open_store


def test_sqlite_files_contain_no_plaintext_identifiers(tmp_path: Path) -> None:
    db_settings = Settings(env="test", data_dir=tmp_path)
    initialise(db_settings).close()
    fake = Faker("fr_FR")
    fake.seed_instance(7)
    profiles = [
        CustomerCreate(
            email=f"{fake.user_name()}.{i}@example.com",
            phone=f"06{i:08d}",
            first_name=fake.first_name(),
            last_name=f"{fake.last_name()}zq{i}",
            street_address=fake.street_address(),
            postal_code=fake.postcode(),
            city=fake.city(),
        )
        for i in range(200)
    ]
    store = open_store(db_settings)
    with store.sessions.begin() as session:
        create_customers(session, store, profiles=profiles, source="t", default_region="FR")
    store.close()  # checkpoints the WAL into the main file

    raw = b"".join(
        path.read_bytes() for path in sorted(db_settings.data_dir.glob("*.db*")) if path.is_file()
    ).lower()
    assert raw  # the scan read the files
    for profile in profiles:
        assert profile.email
        assert profile.phone
        assert profile.last_name
        assert profile.street_address
        needles = [
            profile.email.lower(),
            profile.phone,
            normalise_phone(profile.phone, default_region="FR"),
            profile.last_name.lower(),
            profile.street_address.lower(),
        ]
        for needle in needles:
            assert needle.encode() not in raw, "a plaintext identifier is in the database file"
