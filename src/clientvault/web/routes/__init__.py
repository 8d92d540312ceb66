"""The console's pages, one module per domain; each exposes a ``router`` that
``web.console.install_console`` includes."""
