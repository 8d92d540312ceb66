"""Ingestion: the event log (the spine every downstream consumer reads), and the commerce
room (``commerce``: products, orders, order items, refunds and the consumer that derives them
from the log).
"""
