"""Storage: database engines and sessions, the declarative base, and the keystore with the field
encryption of personal data (envelope encryption with one data key per customer, blind indexes).

Decrypting is deliberately split out into ``unsealing``, which only ``security.pii`` may import
(an import-linter contract enforces it), so every read of decrypted PII is checked and audited.
"""
