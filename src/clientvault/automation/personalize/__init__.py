"""Personalisation: content slots that a website fills per visitor, and the next-best-offer
ranking that e-mails and pages draw from."""
