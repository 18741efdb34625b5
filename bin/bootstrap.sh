# Sourced by bin/serve and bin/test: install what is missing, idempotently, on a fresh machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Python 3.13: pyenv reads .python-version; python3.13 on PATH works as well.
PYTHON="$(command -v python3.13 || command -v python3)"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
    echo "Python 3.13 is needed (found $("$PYTHON" --version 2>&1)); install it with pyenv." >&2
    exit 1
fi
# The interpreter itself, not pyenv's shim: uv compares it with the one .venv was made from,
# and given the shim it would make .venv anew on every run (under any process using it).
PYTHON="$("$PYTHON" -c 'import sys; print(sys.executable)')"
"$PYTHON" -m uv --version >/dev/null 2>&1 || "$PYTHON" -m pip install --quiet --disable-pip-version-check uv
"$PYTHON" -m uv sync --locked --quiet --python "$PYTHON"
mkdir -p var  # test databases, logs and benchmark results

source bin/dotenv.sh
