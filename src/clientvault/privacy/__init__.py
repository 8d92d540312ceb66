"""Privacy: purposes and the consent ledger, objections and restrictions (``consent``), the
one way to build an audience for a purpose (``audiences``), the registry of personal-data
holders (``holders``) that export (``export``), erasure with tombstones and signed
certificates (``erasure``) and retention purges (``retention``) walk; data-subject requests,
records of processing, breaches and the preference centre.
"""
