"""`manage.py reconcile`: re-enqueue jobs the queues forgot (see campaign.services.recovery)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Re-enqueue jobs whose worker died, whose message was lost, or whose broker lost its data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, print what it did, exit")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.RECONCILE_INTERVAL_S,
            help="seconds between passes (default RECONCILE_INTERVAL_S)",
        )

    def handle(self, *args: object, once: bool, interval: float, **options: object) -> None:
        from campaign.services.recovery import reconcile_forever, reconcile_pass

        if once:
            report = reconcile_pass()
            self.stdout.write(
                json.dumps(
                    {
                        "broker_lost": report.broker_lost,
                        "recovered": report.recovered,
                        "requeued": report.requeued,
                        "failed": report.failed,
                        "send_errors": report.send_errors,
                    }
                )
            )
            return
        self.stdout.write(f"reconciler: a pass every {interval:g} s")
        self.stdout.flush()
        reconcile_forever(interval_s=interval)
