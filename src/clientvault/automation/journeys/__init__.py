"""Journeys: marketing workflows started by events, dates or consents, run per customer by the
worker (``engine``), sending e-mail through the messaging outbox (``mail``)."""
