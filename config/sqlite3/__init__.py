"""Django's SQLite backend, tuned for many short-lived connections (one per request)."""
