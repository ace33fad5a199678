"""`manage.py rewrap_encrypted`: re-wrap stored photos' and face assets' data keys with the current key.

Key rotation: put the new key first in ``PROTAGONIST_MASTER_KEYS`` (keep the old one after it), deploy,
run this, then drop the old key. Only the ~140-byte wrapped data key of each blob changes; the payload
is not re-encrypted. Idempotent: blobs already under the current key are skipped.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from campaign.services.private_blobs import private_blob_rewrap


class Command(BaseCommand):
    help = "Re-wrap the data keys of encrypted blobs (photos, face assets) with the current master key."

    def handle(self, *args: object, **options: object) -> None:
        from campaign.models import Job, JobState

        rewrapped = current = 0
        keys = Job.objects.exclude(state=JobState.DELETED).values_list("photo_key", "face_asset_key")
        for photo_key, face_asset_key in keys.iterator(chunk_size=1000):
            for key in (photo_key, face_asset_key):
                if not key:
                    continue
                if private_blob_rewrap(key=key):
                    rewrapped += 1
                else:
                    current += 1
        self.stdout.write(f"re-wrapped {rewrapped} blobs; {current} were already under the current key")
