"""``/preferences`` for the public: a visit without a link, or with one that is expired, used,
forged or cut short, gets a page that explains and offers a new link by e-mail, never JSON."""

from __future__ import annotations

from fastapi.testclient import TestClient

OFFER = 'action="/preferences/start"'
#: Path, expected status, what the page says.
VISITS = [
    ("/preferences", 400, "none was given"),
    ("/preferences?token=", 400, "none was given"),
    ("/preferences?token=forged.token", 403, "may have expired"),
    ("/preferences?token=" + "x" * 500, 403, "may have expired"),
    ("/preferences/export", 400, "none was given"),
    ("/preferences/unsubscribe", 400, "none was given"),
    ("/preferences/verify", 400, "none was given"),
]


def test_a_missing_or_bad_link_gets_a_friendly_page(client: TestClient) -> None:
    for path, status, says in VISITS:
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert says in response.text, path
        assert OFFER in response.text, path
        assert '"error"' not in response.text, path
    # A form posted without its link, or without its fields, gets a page too.
    no_link = client.post("/preferences/consents", data={"purpose": "x", "decision": "granted"})
    no_fields = client.post("/preferences/requests", data={})
    assert no_link.status_code == 400
    assert OFFER in no_link.text
    assert no_fields.status_code == 422
    for response in (no_link, no_fields):
        assert response.headers["content-type"].startswith("text/html")
        assert '"error"' not in response.text
