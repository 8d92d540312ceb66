"""``audit_query.entries_page``: the one paging of the audit log the API and the console
share. Walked older and newer across a filter, a page never repeats or skips an entry and
says exactly when the log goes on past it."""

from __future__ import annotations

from clientvault.security import audit, audit_query
from clientvault.security.audit_query import AuditFilter
from clientvault.security.principal import Principal
from clientvault.store.context import Store

JOB = Principal.system("paging-test")


def test_pages_walk_older_and_newer_within_a_filter(db: Store) -> None:
    with db.sessions.begin() as session:
        for n in range(12):
            audit.record(session, principal=JOB, action="odd" if n % 2 else "even")
    wanted = AuditFilter(action="odd")
    with db.read_sessions() as session, session.begin():
        everything = audit_query.entries_page(session, wanted, limit=100)
        odd = [entry.id for entry in everything.entries]  # newest first
        assert len(odd) == 6
        assert (everything.newer_than, everything.older_than) == (None, None)

        pages, before = [], None
        while True:
            page = audit_query.entries_page(session, wanted, limit=4, before=before)
            pages.append(page)
            if page.older_than is None:
                break
            before = page.older_than
        assert [[e.id for e in p.entries] for p in pages] == [odd[:4], odd[4:]]
        assert [(p.newer_than, p.older_than) for p in pages] == [(None, odd[3]), (odd[4], None)]

        back = audit_query.entries_page(session, wanted, limit=4, after=pages[1].newer_than)
        assert [e.id for e in back.entries] == odd[:4]
        assert (back.newer_than, back.older_than) == (None, odd[3])
        middle = audit_query.entries_page(session, wanted, limit=2, after=odd[4])
        assert [e.id for e in middle.entries] == odd[2:4]
        assert (middle.newer_than, middle.older_than) == (odd[2], odd[3])
