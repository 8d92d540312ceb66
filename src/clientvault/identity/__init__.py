"""Identity: customer profiles (coarse clear attributes, sealed identifiers, blind indexes),
the identifiers linked to them, and the normalisation that makes identifiers comparable.

Also the identity graph and deterministic stitching (``graph``, ``stitching``), probabilistic
matching (the ``matching`` package), the review queue (``review``), merges that can be undone
(``merges``) and the golden record with survivorship rules (``golden``).
"""
