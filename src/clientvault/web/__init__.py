"""The console (staff) and the preference centre (customers): server-rendered pages.

The HTTP plumbing both faces share (authorisation, cookies, headers, the intrusion guard) is
``clientvault.http``; the read models the pages show belong to their domains.
"""
