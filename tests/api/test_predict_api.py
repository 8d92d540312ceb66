"""Predictions over the API and in the console: training and listing models, promotion by
hand, a customer's scores and recommendations (through the personalisation audience), the
fraud queue with its reasons and verdicts; each behind its permission."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from clientvault.ingest.commerce.models import Order
from clientvault.predict import fraud
from clientvault.settings import Settings
from clientvault.store.context import Store
from support.predict import grant, make_shop, sign_in_staff
from support.staff import bearer_headers


def test_models_scores_recommendations_and_fraud_over_api_and_console(
    client: TestClient, db: Store, db_settings: Settings
) -> None:
    shop = make_shop(db, customers=100, days=150)
    grant(db, shop.customers[:90], "personalisation")
    admin = bearer_headers(db, db_settings, "admin")
    marketer = bearer_headers(db, db_settings, "marketer")
    assert (
        client.post("/api/v1/predict/models", json={"task": "churn"}, headers=marketer).status_code
        == 403
    )
    refused = client.post("/api/v1/predict/models", json={"task": "weather"}, headers=admin)
    assert refused.status_code == 422
    # The synthetic history ends at END; trained as of then, churn has enough of it.
    trained = client.post("/api/v1/predict/models", json={"task": "recommend"}, headers=admin)
    assert trained.status_code == 201, trained.text
    assert trained.json()["status"] == "promoted"
    listed = client.get("/api/v1/predict/models", headers=marketer)
    assert [m["task"] for m in listed.json()] == ["recommend"]
    again = client.post(
        f"/api/v1/predict/models/{trained.json()['version']}/promote", headers=admin
    )
    assert again.status_code == 409

    customer = shop.customers[30]
    recs = client.get(f"/api/v1/customers/{customer}/recommendations?k=5", headers=marketer)
    assert recs.status_code == 200, recs.text
    body = recs.json()
    assert body["allowed"]
    assert 0 < len(body["items"]) <= 5
    assert {"sku", "name", "reason", "score"} <= set(body["items"][0])
    assert (
        client.get(
            f"/api/v1/customers/{customer}/recommendations?k=0", headers=marketer
        ).status_code
        == 422
    )
    no_consent = client.get(
        f"/api/v1/customers/{shop.customers[-1]}/recommendations", headers=marketer
    )
    assert no_consent.json() == {
        "customer_id": str(shop.customers[-1]),
        "allowed": False,
        "model_version": None,
        "items": [],
    }

    # Scores: fraud risk of each customer's orders (churn and propensity scores are written
    # the same way, tests/integration/predict/test_models.py).
    with db.sessions.begin() as session:
        fraud.score_orders(session)
        buyer = session.scalars(select(Order.customer_id).limit(1)).one()
    scores = client.get(f"/api/v1/customers/{buyer}/scores", headers=marketer)
    assert [s["kind"] for s in scores.json()] == ["fraud_risk"]

    # Console: models with metrics and the reliability chart; the fraud queue with reasons.
    csrf = sign_in_staff(
        client, db, db_settings, role="reviewer", permissions={"analytics:read", "alerts:read"}
    )
    page = client.get("/console/predict/models")
    assert page.status_code == 200
    assert 'data-scorer="popularity"' in page.text
    assert 'href="/console/predict/fraud"' in page.text  # in the navigation
    queue = client.get("/console/predict/fraud")
    assert queue.status_code == 200
    with db.sessions() as session:
        rows = fraud.queue(session)
    # The most anomalous order is always in the queue (anomaly 1.0 alone reaches its floor).
    first = rows[0]
    assert f'data-order="{first.order_id}"' in queue.text
    answer = client.post(
        f"/console/predict/fraud/{first.order_id}/label",
        data={"csrf_token": csrf["x-csrf-token"], "label": "legitimate"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    reviewed = client.get("/api/v1/predict/fraud?status=reviewed", headers=admin).json()
    assert [r["label"] for r in reviewed] == ["legitimate"]
