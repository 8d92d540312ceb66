"""The OpenAPI document is valid and whole, and the API lives up to it.

``openapi-spec-validator`` checks the document against the OpenAPI 3.1 schema; every local
reference must resolve (the validator does not follow them: the tracking bodies once pointed
at a ``#/$defs/`` that did not exist). Then schemathesis generates requests for every
operation from the document, sent with an administrator's token: none may answer 5xx.
Bounded: a fixed number of derandomised examples per operation (``bench/fuzz_api.py``
explores further, outside the suite).
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

from clientvault.app import create_app
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.fuzzing import fuzzing_admin_token, fuzzing_settings

#: Examples per operation: ~70 operations, ~1,000 requests, well under a minute.
EXAMPLES_PER_OPERATION = 15


def _document() -> dict[str, Any]:
    return create_app(Settings(env="test")).openapi()


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        mapping = node.get("mapping") if "propertyName" in node else None
        found += list((mapping or {}).values())
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _references(item)]
    return []


def _resolves(document: dict[str, Any], reference: str) -> bool:
    node: Any = document
    for part in reference.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return reference.startswith("#/")


def test_the_openapi_document_is_valid() -> None:
    validate(_document())


def test_every_reference_in_the_document_resolves() -> None:
    document = _document()
    references = _references(document)
    assert any("/v1/" in path for path in document["paths"])
    assert len(references) > 50  # the walk really found them
    assert [ref for ref in references if not _resolves(document, ref)] == []
    tracking = json.dumps(document["paths"]["/v1/track"])
    assert "#/components/schemas/" in tracking  # the tracking bodies are described


def test_schemathesis_finds_no_server_error(db: Store, db_settings: Settings) -> None:
    fuzzing = fuzzing_settings(db_settings)
    token = fuzzing_admin_token(db, fuzzing)
    schema = schemathesis.openapi.from_dict(_document())
    headers = {"authorization": f"Bearer {token}"}
    server_errors: list[str] = []
    operations = 0
    app = create_app(fuzzing, store=db)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                kwargs = case.as_transport_kwargs(base_url="https://testserver", headers=headers)
                client.cookies = kwargs.pop("cookies", None) or {}  # per-request is deprecated
                response = client.request(**kwargs)
                if response.status_code >= 500:
                    server_errors.append(f"{case.as_curl_command()} -> {response.status_code}")

            check()
    assert operations >= 60
    assert server_errors == []


def test_a_nul_character_in_text_is_refused_with_422(db: Store, db_settings: Settings) -> None:
    """Found by schemathesis on PostgreSQL, whose text cannot hold U+0000: it answered 500."""
    fuzzing = fuzzing_settings(db_settings)
    headers = {"authorization": f"Bearer {fuzzing_admin_token(db, fuzzing)}"}
    record = {
        "name": "newsletter",
        "purpose": "sending the newsletter",
        "legal_basis": "consent",
        "data_categories": ["e-mail"],
        "subject_categories": ["subscribers"],
        "security_measures": ["encryption"],
        "retention": "two years\x00",
    }
    app = create_app(fuzzing, store=db)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        body = client.put("/api/v1/privacy/records/newsletter", json=record, headers=headers)
        query = client.get("/api/v1/audit", params={"action": "login\x00"}, headers=headers)
        stored = client.put(
            "/api/v1/privacy/records/newsletter",
            json={**record, "retention": "two years"},
            headers=headers,
        )
    assert body.status_code == query.status_code == 422
    assert "NUL" in body.json()["error"]["message"]
    assert stored.status_code == 200
