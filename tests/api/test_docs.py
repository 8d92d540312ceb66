"""The OpenAPI document, the docs page and the health check, through FastAPI's TestClient
(the ``client`` fixture of ``tests/api/conftest.py``)."""

from __future__ import annotations


def test_openapi_document_is_json_and_lists_healthz(client):
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "clientvault"
    assert "get" in document["paths"]["/healthz"]


def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_docs_page_uses_local_assets_only(client):
    response = client.get("/api/docs")

    assert response.status_code == 200
    assert "/api/docs-assets/swagger-ui-bundle.js" in response.text
    assert "cdn." not in response.text
