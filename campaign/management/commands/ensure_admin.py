"""Create the editors' first admin account once, with a random password written to var/ (mode 600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin user (ADMIN_USERNAME/ADMIN_PASSWORD or a random password) if none exists."

    def handle(self, *args: object, **options: object) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        path = Path(settings.VAR_DIR) / "admin_credentials"
        path.write_text(f"username: {username}\npassword: {password}\n")
        path.chmod(0o600)
        self.stdout.write(f"admin user {username!r} created; password in {path}")
