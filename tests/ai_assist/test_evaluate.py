"""evaluate_estimates: the live estimate on a data set's test rows, never reading their points."""

import csv
import gzip
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "datasets" / "story-points"
TOPICS = [
    ("Reset password email is not sent", "No reset email arrives.", 3),
    ("Export the orders to CSV", "Managers download orders as CSV.", 8),
    ("Dark mode for the settings page", "A dark theme toggle.", 1),
    ("Pay with PayPal at checkout", "PayPal payments and refunds.", 13),
]


def fixture(path: Path, *, blank_test_points: bool) -> None:
    """A small project: three past issues per topic, then one test issue per topic."""
    rows, number = [], 0
    for round_, split in ((0, "train"), (1, "train"), (2, "val"), (3, "test")):
        for title, description, points in TOPICS:
            number += 1
            shown = "" if split == "test" and blank_test_points else points
            rows.append([f"DEMO-{number}", f"{title} ({round_})", description, shown, split])
    with gzip.open(path, "wt", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["issuekey", "title", "description", "storypoint", "split_mark"])
        writer.writerows(rows)


def evaluate(
    data: Path, predictions: Path, *options: str, **env: str
) -> subprocess.CompletedProcess:
    """Run the command as a person would; the configured database is a file it must not open."""
    configured = predictions.parent / "configured.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{configured}", **env}
    run = subprocess.run(
        [sys.executable, "manage.py", "evaluate_estimates", str(data), "--predictions",
         str(predictions), *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert not configured.exists()  # the throwaway store is a database of its own
    return run


def test_test_rows_points_are_never_read(tmp_path: Path):
    fixture(tmp_path / "full.csv.gz", blank_test_points=False)
    fixture(tmp_path / "blank.csv.gz", blank_test_points=True)
    full = evaluate(tmp_path / "full.csv.gz", tmp_path / "full-predictions.csv")
    blank = evaluate(tmp_path / "blank.csv.gz", tmp_path / "blank-predictions.csv")

    predicted = (tmp_path / "full-predictions.csv").read_text()
    assert predicted == (tmp_path / "blank-predictions.csv").read_text()
    lines = list(csv.reader(predicted.splitlines()))
    assert lines[0] == ["issuekey", "storypoint"]
    assert [key for key, _ in lines[1:]] == ["DEMO-13", "DEMO-14", "DEMO-15", "DEMO-16"]
    # Each test issue's three near-twins agree: the estimate follows them, off the median.
    assert [int(points) for _, points in lines[1:]] == [3, 8, 1, 13]
    assert "MAE 0.000 on 4 test issues" in full.stdout
    assert "always the history's median" in full.stdout
    assert "no MAE" in blank.stdout


def test_with_a_model_it_runs_the_configured_one(tmp_path: Path, fake: Any):
    fixture(tmp_path / "full.csv.gz", blank_test_points=False)
    run = evaluate(
        tmp_path / "full.csv.gz",
        tmp_path / "predictions.csv",
        "--provider",
        "openai",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="sk-test-not-a-real-key",
    )
    assert fake.stats["requests"] == 4  # one per test issue
    sent = fake.stats["bodies"][-1]["messages"][1]["content"]
    assert "<history>" in sent
    # The fake always answers 5, which is no step of this team's scale (1, 3, 8, 13): 3 is.
    lines = (tmp_path / "predictions.csv").read_text().splitlines()[1:]
    assert [line.split(",")[1] for line in lines] == ["3", "3", "3", "3"]
    assert "(openai)" in run.stdout


@pytest.mark.skipif(not DATA.exists(), reason=f"the shared data set is not at {DATA}")
def test_on_a_real_project_it_beats_the_median(tmp_path: Path):
    run = evaluate(DATA / "clover.csv.gz", tmp_path / "clover.csv")
    mae, baseline = _figures(run.stdout)
    assert mae < baseline


def _figures(output: str) -> tuple[float, float]:
    line = next(line for line in output.splitlines() if line.startswith("MAE "))
    mae = float(line.split()[1])
    baseline = float(line.split("): ")[1].split(";")[0])
    return mae, baseline
