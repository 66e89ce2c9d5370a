"""Everything the server answers over HTTP: the API, the steward API, the web client and the WebSocket upgrade.

Handlers reach the server's parts through :data:`~dreamloom.server.services.SERVICES`
and never import the composition root (``app.py``), which imports them.
"""
