"""Access alerts: the rules that flag suspicious internal access (``rules``), the consumer of
the audit log that runs them and stores what they find (``detection``), the alerts' list and
acknowledgement (``inbox``) and their API shape (``schemas``)."""
