"""config/sqlite3: a process's SQLite writers wait their turn on a lock, not in SQLite's polling."""

import threading
import time

import pytest
from django.db import connection, transaction

from issues.models import Issue

pytestmark = [
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's backend only"),
    pytest.mark.django_db(transaction=True),
]


def test_writers_queue_however_long_the_queue_is():
    """Eight writers each hold the write lock for 0.1 s: the last waits 0.7 s, past SQLite's
    busy time-out of 0.2 s here, and still gets its turn rather than "database is locked"."""
    errors: list[Exception] = []

    def write(n: int) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 200")
            with transaction.atomic():
                Issue.objects.create(key=f"LOCK-{n}", title=f"Writer {n}")
                time.sleep(0.1)
        except Exception as error:  # collected for the assertion
            errors.append(error)
        finally:
            connection.close()

    writers = [threading.Thread(target=write, args=(n,)) for n in range(1, 9)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    assert errors == []
    assert Issue.objects.filter(key__startswith="LOCK-").count() == 8
