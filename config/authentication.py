"""DRF's token authentication, with the token's user read in one raw query."""

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from config.sql import column, table


@cache
def _user_by_token_sql() -> str:
    """The query, with the models' own names (built once, on first use)."""
    user = get_user_model()
    users, tokens = table(user), table(Token)
    return (
        f"SELECT {users}.* FROM {tokens}"  # noqa: S608 (the models' names, quoted)
        f" JOIN {users} ON {users}.{column(user, 'pk')} = {tokens}.{column(Token, 'user')}"
        f" WHERE {tokens}.{column(Token, 'key')} = %s"
    )


class TokenAuthentication(authentication.TokenAuthentication):
    """Every AI call authenticates first, and DRF's lookup (a join that the ORM builds and
    compiles anew each time) costs ten times the query it runs: 0.4 ms against 0.1 ms here.
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        users = get_user_model().objects.raw(_user_by_token_sql(), [key])
        user: Any = next(iter(users), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user)  # the key and its user: all a request needs
