"""The local .env that the scripts write holds the secret key: readable by its owner only."""

import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_env_file_is_written_for_its_owner_only(tmp_path):
    shutil.copy(ROOT / ".env.example", tmp_path)
    (tmp_path / "bin").mkdir()
    shutil.copy(ROOT / "bin" / "dotenv.sh", tmp_path / "bin")
    subprocess.run(["bash", "-c", "umask 022 && source bin/dotenv.sh"], cwd=tmp_path, check=True)

    env = tmp_path / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    secret = next(line for line in env.read_text().splitlines() if line.startswith("DJANGO_SECRET"))
    assert len(secret.split("=", 1)[1]) >= 50

    env.chmod(0o644)  # one written before the rule
    subprocess.run(["bash", "-c", "source bin/dotenv.sh"], cwd=tmp_path, check=True)
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert secret in env.read_text()  # kept, not written anew
