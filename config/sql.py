"""Names for the raw SQL that leaves the ORM: the models' own table and column names, quoted.

A raw statement that spelled out `auth_user` or `user_id` would break with a swapped user
model (AUTH_USER_MODEL), a model's Meta.db_table or a field's db_column; these read the
names from the models, as the ORM does.
"""

from django.db import connection
from django.db.models import Model


def table(model: type[Model]) -> str:
    """The model's table, quoted."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], field: str) -> str:
    """The column of the model's field (by name, "pk" for the primary key), quoted."""
    meta = model._meta
    return connection.ops.quote_name((meta.pk if field == "pk" else meta.get_field(field)).column)
