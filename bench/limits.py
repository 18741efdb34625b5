"""Time the limits' check that every AI call runs (services.user_check_limits), without a
monthly token budget and with one, for a user with many calls this month.

    .venv/bin/python bench/limits.py [--calls 5000] [--repeat 2000]

It makes a throwaway SQLite database in var/ (DATABASE_URL=postgres://... to time PostgreSQL
on a database of your own: it creates its rows there and leaves them).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="the user's calls this month")
    parser.add_argument("--repeat", type=int, default=2000, help="checks timed per case")
    args = parser.parse_args()

    database = ROOT / "var" / f"bench-limits-{os.getpid()}.sqlite3"
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{database}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from ai_assist import services
    from ai_assist.models import Suggestion, TokenBudget

    try:
        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create(username=f"bench-{os.getpid()}")
        made = Suggestion.objects.bulk_create(
            Suggestion(user=user, kind="refine", status="completed", total_tokens=1000)
            for _ in range(args.calls)
        )
        # Spread over the month so far, as a steady user's calls are: the rate's window holds
        # few of them, the month all.
        now = timezone.now()
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        span = max(now - timedelta(minutes=10) - month_start, timedelta(hours=1))
        for i, suggestion in enumerate(made):
            suggestion.created_at = now - timedelta(minutes=10) - span * i / args.calls
        Suggestion.objects.bulk_update(made, ["created_at"], batch_size=500)
        settings.AI_RATE_LIMIT = f"{10**9}/min"

        def timed() -> float:
            samples = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                with transaction.atomic():
                    services.user_check_limits(user=user)
                samples.append(time.perf_counter() - started)
            return statistics.median(samples) * 1e6

        cases = []
        settings.AI_MONTHLY_TOKEN_BUDGET = None
        cases.append(("no budget", timed()))
        settings.AI_MONTHLY_TOKEN_BUDGET = 10**12
        cases.append(("the default budget (AI_MONTHLY_TOKEN_BUDGET)", timed()))
        settings.AI_MONTHLY_TOKEN_BUDGET = None
        TokenBudget.objects.create(user=user, monthly_tokens=10**12)
        cases.append(("a budget of the user's own (admin)", timed()))
        print(f"user_check_limits, a user with {args.calls:,} calls this month, median of "
              f"{args.repeat:,} checks (each in its transaction):")  # fmt: skip
        for name, micros in cases:
            print(f"  {name:<46} {micros:8.1f} µs")
    finally:
        for leftover in database.parent.glob(f"{database.name}*"):
            leftover.unlink()


if __name__ == "__main__":
    main()
