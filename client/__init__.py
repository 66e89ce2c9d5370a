"""The Dreamloom weaver SDK (Python) and the browser client (web/)."""
