"""Write keys, API tokens and staff sessions stored before the credential module existed
still work: each row below holds the digest the old per-module hashing wrote (the constants
were computed from it), and each is found through the service that checks that secret."""

from __future__ import annotations

from datetime import timedelta

from clientvault.ingest import sources
from clientvault.ingest.models import TrackingSource
from clientvault.security.models import ApiToken, StaffSession
from clientvault.security.sessions import resolve_session
from clientvault.security.tokens import principal_for_token
from clientvault.settings import Settings
from clientvault.store.base import utcnow
from clientvault.store.context import Store
from support.staff import add_staff

WRITE_KEY = "cvwk_stored-before-the-credentials-module-0001"
WRITE_KEY_DIGEST = "2c55d803488754245aabc23eec78a57bae6f449c3b0b9a7a1f4165bb29afed80"
API_TOKEN = "cvat_stored-before-the-credentials-module-0002"
API_TOKEN_DIGEST = "f660eec302c1943ea80129e476b3d60ec2de7bc45b0aac8dd0bc5bd2e8d17158"
SESSION_TOKEN = "session-stored-before-the-credentials-module-0003"
SESSION_DIGEST = "9671f1441866c43f107dfedbe316fe6469f4ccf513dcd68928eda6061be913f9"


def test_a_stored_write_key_still_authenticates(db: Store) -> None:
    with db.sessions.begin() as session:
        session.add(
            TrackingSource(
                name="legacy-site", write_key_hash=WRITE_KEY_DIGEST, key_prefix=WRITE_KEY[:12]
            )
        )
    found = sources.authenticate(db.engine, write_key=WRITE_KEY)
    assert found is not None
    assert found.name == "legacy-site"
    assert sources.authenticate(db.engine, write_key=WRITE_KEY + "x") is None


def test_a_stored_api_token_and_session_still_authenticate(
    db: Store, db_settings: Settings
) -> None:
    staff = add_staff(db, db_settings, email="legacy@example.com", role="admin")
    later = utcnow() + timedelta(days=1)
    with db.sessions.begin() as session:
        session.add(
            ApiToken(
                user_id=staff.user.id,
                name="legacy",
                token_hash=API_TOKEN_DIGEST,
                scopes=["customers:read"],
                expires_at=later,
            )
        )
        session.add(
            StaffSession(
                token_hash=SESSION_DIGEST,
                user_id=staff.user.id,
                csrf_token="csrf",
                expires_at=later,
            )
        )
    with db.sessions.begin() as session:
        principal = principal_for_token(session, secret=API_TOKEN)
        assert principal is not None
        assert principal.id == str(staff.user.id)
        assert principal_for_token(session, secret=API_TOKEN + "x") is None
        resolved = resolve_session(session, token=SESSION_TOKEN, policy=db_settings.security)
        assert resolved is not None
        assert resolved[1].id == staff.user.id
        assert resolve_session(session, token="x", policy=db_settings.security) is None
