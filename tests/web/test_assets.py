"""Static assets and the favicon over real HTTP (no browser needed)."""

from __future__ import annotations

import httpx2
import pytest


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/favicon.ico", "image/svg+xml"),
        ("/static/favicon.svg", "image/svg+xml"),
        ("/static/icons.svg", "image/svg+xml"),
        ("/static/console.css", "text/css"),
        ("/static/console.js", "text/javascript"),
    ],
)
def test_console_assets_are_served(live_server, path, media_type):
    response = httpx2.get(live_server.url + path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)


def test_root_redirects_to_the_console(live_server):
    response = httpx2.get(live_server.url + "/")

    assert response.status_code == 307
    assert response.headers["location"] == "/console"


def test_console_404_is_html_but_other_404s_stay_json(live_server):
    console = httpx2.get(live_server.url + "/console/no-such-page")
    api = httpx2.get(live_server.url + "/api/v1/no-such-thing")

    assert console.status_code == 404
    assert console.headers["content-type"].startswith("text/html")
    assert "Page not found" in console.text
    assert api.status_code == 404
    assert api.json() == {"detail": "Not Found"}


def test_console_pages_have_no_inline_script_or_style(live_server):
    # A strict Content-Security-Policy will forbid both: behaviour and looks come from files.
    for path in ("/console", "/console/no-such-page"):
        html = httpx2.get(live_server.url + path).text
        assert "<script>" not in html
        assert "<script " not in html.replace('<script src="/static/', "")
        assert "style=" not in html
        assert "<style" not in html
        assert " on" + "click=" not in html
