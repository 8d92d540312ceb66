"""Predictions in the console: the model registry (``/console/predict/models``: each model's
window, metrics against the baselines, importances and reliability curve) and the order-fraud
review queue (``/console/predict/fraud``: reasons, and the reviewer's verdict as a POST,
CSRF-checked by ``Authorize``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clientvault.http.auth import Authorize, Caller
from clientvault.http.deps import StoreDep
from clientvault.http.params import RowId
from clientvault.predict import fraud, registry
from clientvault.predict.models import PredictModel
from clientvault.web.navigation import CONSOLE_PREFIX
from clientvault.web.templating import render

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/predict", include_in_schema=False)
ReadModels = Annotated[Caller, Depends(Authorize("analytics:read"))]
ReviewFraud = Annotated[Caller, Depends(Authorize("alerts:read"))]
FRAUD_PATH = f"{CONSOLE_PREFIX}/predict/fraud"
#: The reliability chart's drawing box, in SVG units.
CHART = 240


def reliability_points(model: PredictModel) -> str:
    """The reliability curve as SVG polyline points (predicted on x, observed on y)."""
    return " ".join(
        f"{20 + p * CHART:.1f},{20 + (1 - o) * CHART:.1f}" for p, o in model.reliability
    )


@router.get("/models", response_class=HTMLResponse, name="console_predict_models")
def models_page(
    request: Request,
    caller: ReadModels,
    store: StoreDep,
    version: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_\-T]+$")] = None,
) -> Response:
    """Every registered model, and the chosen (or newest) one's metrics and curve."""
    with store.read_sessions() as session:
        models = registry.list_models(session)
        shown = next((m for m in models if m.version == version), models[0] if models else None)
        return render(
            request,
            "predict/models.html",
            {
                "title": "Prediction models",
                "models": models,
                "shown": shown,
                "scorers": registry.scorer_metrics(shown) if shown else {},
                "points": reliability_points(shown) if shown else "",
                "chart": CHART,
            },
        )


@router.get("/fraud", response_class=HTMLResponse, name="console_predict_fraud")
def fraud_page(
    request: Request,
    caller: ReviewFraud,
    store: StoreDep,
    status: Literal["open", "reviewed"] = "open",
) -> Response:
    """The orders to review, riskiest first, with the reasons behind each score."""
    with store.read_sessions() as session:
        rows = fraud.queue(session, status=status)
        return render(
            request,
            "predict/fraud.html",
            {
                "title": "Fraud review",
                "rows": rows,
                "status": status,
                "high": fraud.HIGH_RISK,
                "csrf_token": caller.staff_session.csrf_token if caller.staff_session else "",
            },
        )


@router.post("/fraud/{order_id}/label", name="console_predict_fraud_label")
def label_order(
    order_id: RowId,
    caller: ReviewFraud,
    store: StoreDep,
    label: Annotated[Literal["fraud", "legitimate"], Form()],
) -> RedirectResponse:
    """Record the reviewer's verdict, then back to the queue."""
    with store.sessions.begin() as session:
        fraud.label(session, order_id=order_id, label=label, by=caller.principal)
    return RedirectResponse(FRAUD_PATH, status_code=303)
