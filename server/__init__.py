"""The Dreamloom server: sanctuaries over WebSocket, durable storage, HTTP API."""
