"""Django's SQLite backend, with the writers of a process queued on a lock rather than polling."""

import threading
from typing import Any

from django.db.backends.sqlite3 import base

# SQLite lets one writer in at a time and makes the others poll with growing sleeps (up to
# 100 ms each): with hundreds of requests, each in a thread of its own under ASGI, they would
# sleep far longer than the writes take. Queued on a lock, each goes in the moment it is free.
_writer = threading.RLock()


class SQLiteCursorWrapper(base.SQLiteCursorWrapper):
    def execute(self, query: str, params: Any = None) -> Any:
        if query.lstrip()[:6].upper() in ("SELECT", "PRAGMA", "SAVEPO", "RELEAS"):
            return super().execute(query, params)
        with _writer:  # re-entered inside a transaction, which already holds it
            return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        with _writer:
            return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_writer = False

    def create_cursor(self, name: str | None = None) -> Any:
        return self.connection.cursor(factory=SQLiteCursorWrapper)

    def _start_transaction_under_autocommit(self) -> None:
        # An atomic block takes the write lock up front (BEGIN IMMEDIATE): queue for it here.
        _writer.acquire()
        self._holds_writer = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._release_writer()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._release_writer()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._release_writer()

    def _release_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            _writer.release()
