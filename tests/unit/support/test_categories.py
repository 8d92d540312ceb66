"""The ticket category classifier on synthetic English and French tickets (seeded): its
accuracy on held-out tickets written with phrasings it never saw, and its stored form read
back without pickle. Pure computation: it does not depend on the database."""

from __future__ import annotations

from clientvault.support import categories
from clientvault.support.models import CategoryModel
from support.ticket_texts import CATEGORIES, tickets


def test_held_out_accuracy_floor_on_unseen_phrasings() -> None:
    train = tickets(160, seed=1)
    held_out = tickets(160, seed=2, held_out=True)
    weights = categories.fit([t for _, _, t in train], [c for _, c, _ in train])
    found = categories.predict(weights, [t for _, _, t in held_out])
    right = [s.category == c for s, (_, c, _) in zip(found, held_out, strict=True)]
    accuracy = sum(right) / len(right)
    # Measured 0.84 (four categories, chance 0.25); each language on its own stays above 0.7.
    assert accuracy >= 0.80, accuracy
    for language in ("en", "fr"):
        mine = [r for r, (lang, _, _) in zip(right, held_out, strict=True) if lang == language]
        assert sum(mine) / len(mine) >= 0.70, language
    assert sorted(weights.classes) == sorted(CATEGORIES)
    assert all(0.25 <= s.confidence <= 1 for s in found)


def test_the_stored_model_reads_back_to_the_same_suggestions() -> None:
    train = tickets(40, seed=3)
    weights = categories.fit([t for _, _, t in train], [c for _, c, _ in train])
    row = CategoryModel(categories=weights.classes, weights=categories._dump(weights))
    texts = ["ma facture est fausse", "colis jamais arrivé", "mot de passe oublié"]
    assert categories.predict(categories._load(row), texts) == categories.predict(weights, texts)
    assert b"facture" not in row.weights  # hashed features: no vocabulary is stored
