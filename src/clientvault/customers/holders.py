"""The personal-data holder of ``customers``: the customer scores (profiling results).

Scores are derived data: an export shows them (Art. 15 covers profiling results), an erasure
deletes them, and they are replaced at every recomputation, so they never outlive their model.
"""

from __future__ import annotations

from clientvault.customers.scores import CustomerScore
from clientvault.privacy.holders.registry import Holder, plain_table, register_holder

_export, _erase = plain_table(CustomerScore)

SCORES = register_holder(
    Holder(
        name="customers.scores",
        domain="customers",
        description="Scores computed per customer: RFM group, persona, predicted value, "
        "purchase propensity, churn and fraud risk.",
        tables=("customer_scores",),
        categories=("profiling results",),
        purposes=("profiling", "personalisation", "analytics"),
        retention="replaced at each recomputation; deleted with the profile",
        sources=("computed from the customer's events and orders",),
        recipients=("marketers (segments)", "analysts (aggregates)"),
        export=_export,
        erase=_erase,
    )
)
