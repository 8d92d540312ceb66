"""Security: staff accounts, principals and permissions, the audit log, and the one audited
path (``pii.reveal``) through which decrypted personal data leaves the store.
"""
