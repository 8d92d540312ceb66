"""Read models across domains: the 360° view of a person and the customer list.

They read identity (profiles, the golden record, merges), ingest (events, orders, groups) and
privacy (consents), so they sit above ``ingest`` and below the faces, which both call them.
"""
