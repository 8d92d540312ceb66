"""Privacy: the consent ledger (and, as it grows, purposes, audiences, data-subject requests,
erasure, retention and records of processing).
"""
