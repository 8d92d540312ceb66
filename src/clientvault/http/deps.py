"""Request dependencies shared by the console and the API: the opened store, the settings,
and per-request sessions for writing or only reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

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


def get_session(store: Annotated[Store, Depends(get_store)]) -> Iterator[Session]:
    """A session whose transaction commits when the route returns without error."""
    with store.sessions() as session, session.begin():
        yield session


def get_read_session(store: Annotated[Store, Depends(get_store)]) -> Iterator[Session]:
    """A session for pages and endpoints that only read (never blocks behind the writer)."""
    with store.read_sessions() as session, session.begin():
        yield session


StoreDep = Annotated[Store, Depends(get_store)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
