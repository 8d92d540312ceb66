"""The chatbot on the demo knowledge base, evaluated on held-out questions written apart from
it (``support.chat_questions``: 102 paraphrases in English and French, 13 questions outside
the knowledge base), with the installation's default confidence threshold."""

from __future__ import annotations

import pytest

from clientvault.demo.support import kb_articles
from clientvault.settings import SupportSettings
from clientvault.store.context import Store
from clientvault.support import chatbot, kb
from support.chat_questions import QUESTIONS

THRESHOLD = SupportSettings().chatbot_threshold


def _seeded(db: Store) -> None:
    with db.sessions.begin() as session:
        kb.seed_articles(session, kb_articles())


def _evaluate(db: Store) -> tuple[float, float, float]:
    """Top-1 accuracy on answerable questions (a hand-over counts as a miss), their hand-over
    rate, and the share of out-of-scope questions handed over."""
    right = handed_over = out_handed = answerable = out = 0
    with db.read_sessions() as session:
        topics = {a.id: a.category for a in kb.list_articles(session)}
        for _language, question, topic in QUESTIONS:
            reply = chatbot.answer(session, question, threshold=THRESHOLD)
            if topic is None:
                out += 1
                out_handed += reply.handover
                continue
            answerable += 1
            handed_over += reply.handover
            right += (not reply.handover) and topics[reply.article_id] == topic  # type: ignore[index]
    return right / answerable, handed_over / answerable, out_handed / out


def test_the_bot_answers_paraphrases_and_hands_over_outside_its_knowledge(db: Store) -> None:
    _seeded(db)
    accuracy, handover, out_of_scope = _evaluate(db)
    print(f"top-1 {accuracy:.3f}, hand-over {handover:.3f}, out of scope {out_of_scope:.3f}")
    assert len(QUESTIONS) >= 100
    # Measured: top-1 0.833, hand-over 0.039, out of scope handed over 0.846 (11 of 13).
    assert accuracy >= 0.80
    assert handover <= 0.10
    assert out_of_scope >= 0.80


@pytest.mark.parametrize(
    "question", ["I want to talk to a human", "je veux parler à un conseiller", "   "]
)
def test_asking_for_a_person_or_nothing_hands_over(db: Store, question: str) -> None:
    _seeded(db)
    with db.read_sessions() as session:
        assert chatbot.answer(session, question, threshold=THRESHOLD).handover


def test_an_edit_is_picked_up_at_the_next_question(db: Store) -> None:
    _seeded(db)
    with db.sessions.begin() as session:
        kb.save_article(
            session,
            kb.ArticleInput("en", "Do you sell electric bikes?", "No, only clothing.", ("e-bike",)),
        )
    with db.read_sessions() as session:
        reply = chatbot.answer(session, "do you sell electric bikes", threshold=THRESHOLD)
    assert not reply.handover
    assert reply.answer == "No, only clothing."
