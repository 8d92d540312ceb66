"""Data-subject requests: their workflow from intake to completion or refusal
(``lifecycle``), what carrying out each kind does (``actions``), their tables (``models``,
with the signed links, processing records and breaches) and their API shapes (``schemas``)."""
