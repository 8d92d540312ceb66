"""clientvault: a privacy-first customer data platform."""
