"""The shortcuts' raw SQL with a swapped user model and renamed tables: tests/swapped/, run in
a pytest of its own (AUTH_USER_MODEL is read once, when Django starts)."""

import os
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_the_raw_sql_works_with_a_swapped_user_model_and_renamed_tables():
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}  # SQLite
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/swapped", "--ds=tests.swapped.settings",
         "--no-migrations", "-p", "no:randomly", "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    # Every test there ran: none skipped for want of the swapped settings.
    source = (ROOT / "tests/swapped/test_swapped.py").read_text()
    tests = len(re.findall(r"^def test_", source, re.MULTILINE))
    assert re.search(rf"\b{tests} passed\b", run.stdout), run.stdout[-2000:]
