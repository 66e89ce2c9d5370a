"""Dreamloom: a real-time collaborative dream canvas for people and AI weavers."""

__version__ = "0.1.0"
