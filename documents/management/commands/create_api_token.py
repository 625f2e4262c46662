"""``manage.py create_api_token USERNAME [--create-user]``: print a user's API token key (and nothing else)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    """Print the API token of a user, creating the token (and with --create-user the user) when missing."""

    help = "Print USERNAME's API token key on stdout, creating the token if needed."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """USERNAME and --create-user."""
        parser.add_argument("username")
        parser.add_argument(
            "--create-user",
            action="store_true",
            help="Create the user (with an unusable password) when it does not exist.",
        )

    @transaction.atomic
    def handle(self, *args: Any, username: str, create_user: bool, **options: Any) -> None:
        """Write the token key, alone on its line, to stdout."""
        user_model = get_user_model()
        lookup = {user_model.USERNAME_FIELD: username}
        user = user_model.objects.filter(**lookup).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user called {username!r} (pass --create-user to create it).")
            user = user_model(**lookup)
            user.set_unusable_password()
            try:
                user.full_clean(exclude=["password"])
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
            user.save()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
