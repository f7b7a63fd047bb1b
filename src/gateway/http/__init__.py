"""The HTTP edge: thin ASGI handlers for the hot paths in front of Quart-Trio."""
