"""A user model of our own, with names Django would not have chosen."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class Member(AbstractUser):
    id = models.BigAutoField(primary_key=True, db_column="member_no")
    is_active = models.BooleanField(default=True, db_column="active")

    class Meta:
        db_table = "people"
