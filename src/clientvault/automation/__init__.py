"""Automation: the worker that runs every consumer of the event log (and, as it grows,
workflows, triggers, channels and the chatbot)."""
