"""Django's SQLite backend, except that closing a connection never checkpoints the WAL."""

import sqlite3

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict) -> sqlite3.Connection:
        connection = super().get_new_connection(conn_params)
        # SQLite checkpoints the whole WAL when the last connection to the file closes; under
        # ASGI each request opens and closes its own, so a quiet server would checkpoint on every
        # request. The automatic checkpoint on commit (every 1,000 pages) keeps the WAL small.
        connection.setconfig(sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, True)
        return connection
