"""`manage.py retention_sweep`: delete originals nothing needs and jobs past their campaign's retention."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from campaign.services.retention import retention_sweep


class Command(BaseCommand):
    help = (
        "Delete original photos no stage needs any more, and every job (with all its files) whose "
        "campaign retention period has passed. Idempotent; the workers also run it periodically."
    )

    def handle(self, *args: object, **options: object) -> None:
        report = retention_sweep()
        self.stdout.write(
            f"deleted {report.originals_deleted} original photos and {report.jobs_expired} expired jobs"
        )
