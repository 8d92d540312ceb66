"""Settings: nested environment variables, derived paths, refusal of dev defaults in prod."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from clientvault.settings import Settings


def test_nested_variables_use_the_prefix_and_double_underscore(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLIENTVAULT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CLIENTVAULT_SERVER__PORT", "8443")
    monkeypatch.setenv("CLIENTVAULT_KEYSTORE__KEY_MATERIAL", "s3cret-material")
    settings = Settings()
    assert settings.server.port == 8443
    assert settings.database_url == f"sqlite:///{tmp_path / 'clientvault.db'}"
    assert settings.keystore_url == f"sqlite:///{tmp_path / 'keystore.db'}"
    assert settings.key_file == tmp_path / "master.key"
    assert settings.keystore.key_material is not None
    assert "s3cret" not in repr(settings)


def test_prod_refuses_development_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTVAULT_ENV", "prod")
    with pytest.raises(ValidationError, match="CLIENTVAULT_DATABASE__URL"):
        Settings()
    monkeypatch.setenv("CLIENTVAULT_DATABASE__URL", "postgresql://db.invalid/cv")
    monkeypatch.setenv("CLIENTVAULT_KEYSTORE__KEY_FILE", "/etc/clientvault/master.key")
    with pytest.raises(ValidationError, match="CLIENTVAULT_PRIVACY__PUBLIC_URL"):
        Settings()  # links e-mailed to customers would point at localhost
    monkeypatch.setenv("CLIENTVAULT_PRIVACY__PUBLIC_URL", "https://shop.example.com")
    assert Settings().env == "prod"


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTVAULT_SERVER__PORT", "70000")
    with pytest.raises(ValidationError):
        Settings()


def test_match_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTVAULT_IDENTITY__AUTO_MERGE_PROBABILITY", "0.999")
    monkeypatch.setenv("CLIENTVAULT_IDENTITY__REVIEW_PROBABILITY", "0.8")
    monkeypatch.setenv("CLIENTVAULT_IDENTITY__MATCHING_MEMORY_LIMIT", "512MB")
    identity = Settings().identity
    assert (identity.auto_merge_probability, identity.review_probability) == (0.999, 0.8)
    assert identity.matching_memory_limit == "512MB"


@pytest.mark.parametrize(
    ("auto_merge", "review"),
    [("0.9", "0.9"), ("0.8", "0.9"), ("1", "0.5"), ("0.99", "0"), ("0.99", "-0.1")],
)
def test_match_thresholds_must_be_ordered_probabilities(
    monkeypatch: pytest.MonkeyPatch, auto_merge: str, review: str
) -> None:
    monkeypatch.setenv("CLIENTVAULT_IDENTITY__AUTO_MERGE_PROBABILITY", auto_merge)
    monkeypatch.setenv("CLIENTVAULT_IDENTITY__REVIEW_PROBABILITY", review)
    with pytest.raises(ValidationError):
        Settings()


def test_matching_memory_limit_needs_a_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTVAULT_IDENTITY__MATCHING_MEMORY_LIMIT", "lots")
    with pytest.raises(ValidationError):
        Settings()
