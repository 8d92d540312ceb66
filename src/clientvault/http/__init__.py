"""What both HTTP faces (the API and the console) share: request dependencies, ``Authorize``,
security headers, the intrusion guard, cookies, bounded parameters and the error mapping.

It sits below ``api`` and ``web`` (which never import each other) and above the domains.
"""
