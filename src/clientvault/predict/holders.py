"""The personal-data holder of ``predict``: order risk scores and reviewers' labels.

A risk row names the customer who placed the order: an export shows the score and its
reasons (Art. 15 covers automated assessments), an erasure deletes them with the profile.
The model registry holds no per-customer rows (features are computed on the fly, never
stored), so it needs no holder.
"""

from __future__ import annotations

from clientvault.predict.models import OrderRisk
from clientvault.privacy.holders.registry import Holder, plain_table, register_holder

_export, _erase = plain_table(OrderRisk)

ORDER_RISKS = register_holder(
    Holder(
        name="predict.order_risks",
        domain="predict",
        description="Fraud risk of each order with the reasons behind it and the reviewer's label.",
        tables=("predict_order_risks",),
        categories=("fraud prevention assessments",),
        purposes=("order_fulfilment",),
        retention="kept with the order; deleted with the profile",
        sources=("computed from the customer's orders and their context",),
        recipients=("fraud reviewers",),
        export=_export,
        erase=_erase,
    )
)
