"""Request dependencies shared by the console and the API: the opened store and the settings.

Routes open their sessions themselves, one style everywhere: ``with store.sessions.begin()``
to write (committed before the answer is sent), ``with store.read_sessions()`` to only read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from clientvault.settings import Settings
from clientvault.store.context import Store


def get_store(request: Request) -> Store:
    """The store opened by the app's lifespan."""
    store: Store = request.app.state.store
    return store


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
