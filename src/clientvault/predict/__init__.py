"""Predictions and personalisation: point-in-time features, propensity and churn models with
their registry, recommendations and order fraud scoring."""
