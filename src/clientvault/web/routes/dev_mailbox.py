"""The development mailbox (``/console/dev/mailbox``, ``settings:manage``): the e-mail the
dev mail catcher (``messaging.catcher``) received, so the person trying the demo can open a
data-subject request's verification link or a preference-centre link.

Mounted only when the installation runs in ``env=dev`` (``install_console``), so it has no
page, hence no navigation entry, anywhere else.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import SettingsDep
from clientvault.messaging.catcher import caught_message, caught_messages, mailbox_dir
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

#: A link in a message's text (the messages are the platform's own: http and https only).
LINK = re.compile(r"https?://[^\s<>\"']+")

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/dev/mailbox", include_in_schema=False)
Admin = Annotated[Caller, Depends(Authorize("settings:manage"))]
MessageId = Annotated[str, Path(pattern=r"^[0-9]{19}-[0-9a-f]{8}$")]


@router.get("", response_class=HTMLResponse, name="console_dev_mailbox")
def mailbox_page(request: Request, caller: Admin, settings: SettingsDep) -> Response:
    """The messages caught, newest first."""
    return render(
        request,
        "dev/mailbox.html",
        {
            "title": "Dev mailbox",
            "messages": caught_messages(settings),
            "directory": mailbox_dir(settings),
            "catching": settings.smtp.enabled and settings.smtp.host == "127.0.0.1",
        },
    )


@router.get("/{message_id}", response_class=HTMLResponse, name="console_dev_message")
def message_page(
    message_id: MessageId, request: Request, caller: Admin, settings: SettingsDep
) -> Response:
    """One caught message: its headers and its text, links clickable."""
    message = caught_message(settings, message_id)
    return render(
        request,
        "dev/message.html",
        {"title": "Dev mailbox", "message": message, "parts": with_links(message.text)},
    )


def with_links(text: str) -> list[tuple[str, bool]]:
    """The text cut into pieces, each marked as a link or not (the template escapes both)."""
    parts: list[tuple[str, bool]] = []
    position = 0
    for found in LINK.finditer(text):
        parts += [(text[position : found.start()], False), (found.group(0), True)]
        position = found.end()
    parts.append((text[position:], False))
    return [part for part in parts if part[0]]
