"""Messaging: the transactional outbox of e-mails to customers (``models``, ``outbox``) and its
delivery over SMTP (``delivery``, run by the scheduled job in ``jobs``).

It sits below ``privacy`` and above ``identity``: the privacy layer (and the journeys to come)
queue messages, and delivery reads the recipient's address through the audited reveal path.
"""
