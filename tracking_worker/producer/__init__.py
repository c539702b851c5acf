"""The web side: what runs inside a web request. Validate, route, enqueue in one Redis round
trip, spool when Redis is away. Imports nothing from ``delivery/`` or ``worker/``, nor requests."""
