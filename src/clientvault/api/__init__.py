"""The HTTP API: thin routes per domain, its documentation and OpenAPI document (``install``).

It shares its plumbing with the console through ``clientvault.http`` and never imports the
console; ``clientvault.app`` mounts both on one app.
"""
