"""The login page: a username is locked out from an address after repeated failures."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def log_in(client: Client, password: str) -> int:
    response = client.post("/accounts/login/", {"username": "alice", "password": password})
    return response.status_code


def test_five_failed_logins_lock_the_username_out_from_that_address(settings):
    User.objects.create_user("alice", password="the-right-one-42")
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert [log_in(client, f"wrong-{n}") for n in range(settings.AXES_FAILURE_LIMIT - 1)] == [
        200
    ] * (settings.AXES_FAILURE_LIMIT - 1)  # the form again, with its error
    assert log_in(client, "wrong-again") == 429
    # Locked out: not even the right password gets in now.
    assert log_in(client, "the-right-one-42") == 429
    assert "_auth_user_id" not in client.session

    # Another address is not locked out of the same account.
    other = Client(REMOTE_ADDR="198.51.100.9")
    assert log_in(other, "the-right-one-42") == 302


def test_a_successful_login_forgets_the_failures():
    User.objects.create_user("alice", password="the-right-one-42")
    client = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(3):
        log_in(client, f"wrong-{n}")
    assert log_in(client, "the-right-one-42") == 302
    client.logout()
    for n in range(3):
        assert log_in(client, f"wrong-{n}") == 200
    assert log_in(client, "the-right-one-42") == 302
