"""Probabilistic identity matching (Splink): the comparisons declared as data (``spec``), their
Splink form and scoring in DuckDB (``splink``), the stored models and blocking keys
(``models``, ``store``), the batch resolution job (``resolve``) and its accuracy measures
(``metrics``).

The package imports nothing heavy: Splink, DuckDB and pandas load only when ``splink`` does,
so the API and CLI start without them."""
