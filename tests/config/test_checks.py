"""`manage.py check --deploy`: the real warnings, each gone once its setting comes from the env."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DEPLOY = {
    "DJANGO_SECURE_SSL_REDIRECT": "True",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "True",
    "DJANGO_SECURE_HSTS_PRELOAD": "True",
    "DJANGO_SESSION_COOKIE_SECURE": "True",
    "DJANGO_CSRF_COOKIE_SECURE": "True",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
}


def check_deploy(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_DEBUG": "False",
            "DJANGO_SECRET_KEY": "x" * 60 + "-not-a-weak-key-0123456789",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_names_what_https_needs_and_nothing_false():
    result = check_deploy()
    assert result.returncode != 0
    warnings = set(result.stderr.split()) & {
        "(security.W001)",  # our middleware are Django's own, subclassed: never "missing"
        "(security.W002)",
        "(security.W003)",
        "(security.W004)",
        "(security.W008)",
        "(security.W012)",
        "(security.W016)",
    }
    assert warnings == {
        "(security.W004)",
        "(security.W008)",
        "(security.W012)",
        "(security.W016)",
    }, result.stderr


def test_check_deploy_is_clean_with_the_settings_from_the_environment():
    result = check_deploy(**DEPLOY)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
