"""Ingestion: the event log (the spine every downstream consumer reads), and the commerce
tables (products, orders, order items) that consumers derive from it.
"""
