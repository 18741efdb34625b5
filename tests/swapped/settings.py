"""The service's settings with a swapped user model (tests/swapped/test_swapped.py)."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.swapped"]
AUTH_USER_MODEL = "swapped.Member"
