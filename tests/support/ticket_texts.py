"""Synthetic support tickets in English and French for the category classifier: a seeded mix
of a greeting, one of several ways of putting a category's problem, a detail (product, order
number, date) and a sign-off, so no two tickets read alike and the words that tell categories
apart sit among words that do not (greetings, products, numbers shared by all categories)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import update

from clientvault.store.context import Store
from clientvault.support import tickets as service
from clientvault.support.models import Ticket

CATEGORIES = ("billing", "delivery", "returns", "account")

_PROBLEMS: dict[str, dict[str, tuple[str, ...]]] = {
    "billing": {
        "en": (
            "I was charged twice for the same order",
            "the invoice shows the wrong amount",
            "my card was debited but the payment failed",
            "can you send me an invoice with my company name",
            "there is a fee on my bank statement I do not understand",
            "the discount code was not applied to the price I paid",
            "I need a copy of my invoice for my accountant",
            "why was my credit card charged again this month",
        ),
        "fr": (
            "j'ai été débité deux fois pour la même commande",
            "la facture indique un mauvais montant",
            "ma carte a été débitée mais le paiement a échoué",
            "pouvez-vous m'envoyer une facture au nom de ma société",
            "il y a des frais sur mon relevé bancaire que je ne comprends pas",
            "le code promo n'a pas été appliqué au prix payé",
            "j'ai besoin d'une copie de ma facture pour mon comptable",
            "pourquoi ma carte bancaire a encore été prélevée ce mois-ci",
        ),
    },
    "delivery": {
        "en": (
            "my parcel has not arrived yet",
            "the tracking says delivered but I never got the package",
            "the courier left the box with a neighbour I do not know",
            "the shipment is stuck at the depot for a week",
            "can I change the delivery address of my parcel",
            "the delivery man never came although I stayed home",
            "the package arrived late and the box was crushed",
            "when will my order be shipped",
        ),
        "fr": (
            "mon colis n'est toujours pas arrivé",
            "le suivi indique livré mais je n'ai jamais reçu le colis",
            "le livreur a laissé le carton chez un voisin que je ne connais pas",
            "l'envoi est bloqué au dépôt depuis une semaine",
            "puis-je changer l'adresse de livraison de mon colis",
            "le transporteur n'est jamais passé alors que j'étais chez moi",
            "le colis est arrivé en retard et le carton était écrasé",
            "quand ma commande sera-t-elle expédiée",
        ),
    },
    "returns": {
        "en": (
            "I want to return an item that does not fit",
            "how do I send back the product, it is too small",
            "I sent the return two weeks ago and still no refund",
            "the return label does not print",
            "can I exchange it for a bigger size",
            "the item is faulty and I would like to send it back",
            "I returned the parcel but the refund is missing",
            "is the return free or do I pay the postage",
        ),
        "fr": (
            "je veux retourner un article qui ne me va pas",
            "comment renvoyer le produit, il est trop petit",
            "j'ai envoyé le retour il y a deux semaines et toujours pas de remboursement",
            "l'étiquette de retour ne s'imprime pas",
            "puis-je l'échanger contre une taille plus grande",
            "l'article est défectueux et je voudrais le renvoyer",
            "j'ai retourné le colis mais le remboursement n'est pas arrivé",
            "le retour est-il gratuit ou dois-je payer l'affranchissement",
        ),
    },
    "account": {
        "en": (
            "I cannot log in to my account",
            "the password reset email never arrives",
            "please delete my account",
            "I want to change the email address of my account",
            "my account is locked after too many attempts",
            "how do I unsubscribe from the newsletter in my profile",
            "I cannot sign in, it says wrong password",
            "update the phone number on my customer account",
        ),
        "fr": (
            "je n'arrive pas à me connecter à mon compte",
            "l'e-mail de réinitialisation du mot de passe n'arrive jamais",
            "merci de supprimer mon compte",
            "je veux changer l'adresse e-mail de mon compte",
            "mon compte est bloqué après trop de tentatives",
            "comment me désabonner de la newsletter dans mon profil",
            "impossible de me connecter, mot de passe incorrect",
            "mettre à jour le numéro de téléphone de mon compte client",
        ),
    },
}
_GREETINGS = {
    "en": ("Hello,", "Hi there,", "Good morning,", "Dear support,", ""),
    "fr": ("Bonjour,", "Bonsoir,", "Madame, Monsieur,", "Salut,", ""),
}
_DETAILS = {
    "en": (
        "It is about order {n}.",
        "I bought a {p} on {d}.",
        "The {p} was a gift.",
        "Order number {n}, placed on {d}.",
        "",
    ),
    "fr": (
        "C'est pour la commande {n}.",
        "J'ai acheté un {p} le {d}.",
        "Le {p} était un cadeau.",
        "Commande numéro {n}, passée le {d}.",
        "",
    ),
}
_CLOSINGS = {
    "en": ("Thanks.", "Thank you for your help.", "Regards", "Please answer quickly.", ""),
    "fr": ("Merci.", "Merci de votre aide.", "Cordialement", "Merci de répondre vite.", ""),
}


def _phrasings(category: str, language: str, held_out: bool) -> tuple[str, ...]:
    every = _PROBLEMS[category][language]
    return every[-HELD_OUT:] if held_out else every[:-HELD_OUT]


_PRODUCTS = ("jacket", "lamp", "sofa", "watch", "bag", "dress", "phone", "desk", "chair")


#: Each category's last two ways of putting the problem are kept for the held-out tickets:
#: the test measures how the classifier does on sentences it never saw.
HELD_OUT = 2


def tickets(count: int, *, seed: int, held_out: bool = False) -> list[tuple[str, str, str]]:
    """``count`` tickets as (language, category, text), categories and languages in turn,
    written with the training phrasings or (``held_out``) with the held-out ones only."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        category = CATEGORIES[i % len(CATEGORIES)]
        language = "en" if (i // len(CATEGORIES)) % 2 == 0 else "fr"
        detail = rng.choice(_DETAILS[language]).format(
            n=rng.randint(10_000, 99_999),
            p=rng.choice(_PRODUCTS),
            d=f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}",
        )
        parts = [
            rng.choice(_GREETINGS[language]),
            rng.choice(_phrasings(category, language, held_out)),
            detail,
            rng.choice(_CLOSINGS[language]),
        ]
        made.append((language, category, " ".join(p for p in parts if p)))
    return made


def open_ticket(db: Store, customer: uuid.UUID, text: str, category: str | None) -> Ticket:
    """A ticket with ``text`` as its first message, opened through the service (so it gets
    the current model's suggestion), detached from its session."""
    with db.sessions.begin() as session:
        ticket = service.open_ticket(
            session,
            db,
            service.NewTicket(customer_id=customer, message=text, category=category),
            zone=ZoneInfo("UTC"),
        )
        session.expunge(ticket)
    return ticket


def closed_tickets(
    db: Store, customers: Sequence[uuid.UUID], written: Sequence[tuple[str, str, str]]
) -> None:
    """Open the ``written`` tickets for the customers in turn, each with its category, and
    close every ticket: what the classifier trains on."""
    for n, (_, category, text) in enumerate(written):
        open_ticket(db, customers[n % len(customers)], text, category)
    with db.sessions.begin() as session:
        session.execute(update(Ticket).values(status="closed"))
