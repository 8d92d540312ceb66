"""Identity: customer profiles (coarse clear attributes, sealed identifiers, blind indexes),
the identifiers linked to them, and the normalisation that makes identifiers comparable.
"""
