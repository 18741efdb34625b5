"""What the offline engine's reading costs: import, first use, and CPU per answer.

    .venv/bin/python -m bench.offline_engine [--repeat N]

Prints the import time of the engine's libraries (in a fresh interpreter each), the one-time
load of the English lemma dictionary, and the CPU time per answer (refine, breakdown) for the
realistic CSV epic and for a 20,000-character description (the limit of a request), next to
building the prompt for the same context (which every provider does) as the baseline.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from ai_assist import reading  # noqa: E402
from ai_assist.prompts import prompt_build  # noqa: E402
from ai_assist.providers.offline import ANSWERS  # noqa: E402
from tests.ai_assist.realistic_issues import BUG, CSV_EPIC, LOGIN  # noqa: E402

LIMIT = 20_000


def import_ms(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(3)
    ]
    return min(runs) * 1000


def first_use_ms() -> float:
    code = (
        "import time; from ai_assist import reading; t = time.perf_counter(); "
        "reading.lemma('locked'); print(time.perf_counter() - t)"
    )
    return float(subprocess.check_output([sys.executable, "-c", code], text=True)) * 1000


def big_context() -> dict[str, Any]:
    """A 20,000-character description: the three realistic issues' texts, over and over."""
    parts = [LOGIN, CSV_EPIC, BUG]
    text, n = "", 0
    while len(text) < LIMIT:
        text += f"\n\n## Part {n}\n\n" + parts[n % 3]["context"]["description"]
        n += 1
    return CSV_EPIC["context"] | {"description": text[:LIMIT]}


def cpu_ms(work: Any, repeat: int, *, cold: bool = False) -> tuple[float, float]:
    work()  # warm: the dictionary and compiled patterns are per process
    runs = []
    for _ in range(repeat):
        if cold:  # every word looked up afresh, as in a text with no word seen before
            reading.lemma.cache_clear()
            reading.is_english_word.cache_clear()
        started = time.process_time()
        work()
        runs.append((time.process_time() - started) * 1000)
    return statistics.median(runs), max(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    repeat = parser.parse_args().repeat
    print("import (fresh interpreter, best of 3):")
    for module in ("simplemma", "rapidfuzz", "ai_assist.reading", "ai_assist.planning"):
        print(f"  {module:<22} {import_ms(module):7.1f} ms")
    print(f"first use (English lemma dictionary, once per process): {first_use_ms():.0f} ms")
    print(f"CPU per answer, median and worst of {repeat}:")
    for name, context in (("CSV epic", CSV_EPIC["context"]), ("20,000 chars", big_context())):
        size = len(context["description"])
        base, _ = cpu_ms(lambda c=context: prompt_build(kind="refine", context=c), repeat)
        print(f"  {name} ({size} characters); building its prompt: {base:.2f} ms")
        for kind, cold in (("refine", False), ("breakdown", False), ("refine", True)):
            median, worst = cpu_ms(lambda k=kind, c=context: ANSWERS[k](c), repeat, cold=cold)
            print(
                f"    {kind + (', cold word cache' if cold else ''):<27} {median:6.2f} ms"
                f" (worst {worst:6.2f}), {median / max(base, 1e-6):5.0f}x the prompt"
            )


if __name__ == "__main__":
    main()
