"""Django's SQLite backend, for many concurrent writers (one thread per request under ASGI)."""
