"""Create the demo campaign (idempotent): one generated film (campaign.demo), its female-lead variant and
five posters, then ingest. No male variant: no portrait of a man ships in the project's wheels under a
licence that allows it (see campaign.demo), and a mirrored copy of the same woman is no male lead.

Ingest and poster preparation run in the ingest worker like an editor's upload (requested on commit);
`--now` runs them in this process instead, for a machine without workers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from campaign import demo
from campaign.models import Campaign, Film, FilmVariant, Gender, PosterTemplate
from campaign.services.films import poster_template_prepare_request, variant_ingest_request


class Command(BaseCommand):
    help = "Create the demo campaign with a generated film and posters (skips when it exists)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", action="store_true", help="ingest in this process instead of a worker")

    def handle(self, *args: object, now: bool = False, **options: object) -> None:
        if Campaign.objects.filter(slug="demo").exists():
            self.stdout.write("demo campaign exists; nothing to do")
            return
        self.stdout.write("building the demo film and posters (campaign.demo, ~30 s) ...")
        with tempfile.TemporaryDirectory() as tmp:
            films = {Gender.FEMALE: demo.build_demo_film(Path(tmp) / "demo-female.mp4")}
            with transaction.atomic():
                campaign = Campaign.objects.create(
                    slug="demo",
                    title="你就是主角",
                    title_en="You are the protagonist",
                    description="上传一张正脸照片，几秒钟后得到五张电影海报，再过一会儿得到一段 15 秒的电影片段。",
                    description_en="Upload one frontal photo: five film posters in seconds, then a 15-second film.",
                    film_seconds=demo.FILM_SECONDS,
                )
                film = Film.objects.create(
                    campaign=campaign, slug="star-lead", title=demo.FILM_TITLE[0], title_en="Star Lead"
                )
                variants = []
                posters = []
                for gender, film_path in films.items():
                    variant = FilmVariant(film=film, gender=gender)
                    variant.template_video.save(
                        f"demo-{gender}.mp4", ContentFile(film_path.read_bytes()), save=False
                    )
                    variant.save()
                    variants.append(variant)
                    for index in range(5):
                        poster = PosterTemplate(variant=variant, position=index + 1)
                        poster.image.save(
                            f"demo-{gender}-{index + 1}.jpg",
                            ContentFile(demo.build_demo_poster(index)),
                            save=False,
                        )
                        poster.overlay.save(
                            f"demo-{gender}-{index + 1}-overlay.png",
                            ContentFile(demo.build_demo_overlay(index)),
                            save=False,
                        )
                        poster.save()
                        posters.append(poster)
                # Posters first: they are quick, and the page can show them long before the film.
                poster_requests = [(p.pk, poster_template_prepare_request(poster=p)) for p in posters]
                requests = [(v.pk, variant_ingest_request(variant=v)) for v in variants]
        self.stdout.write(
            self.style.SUCCESS(f"demo campaign created: {len(variants)} variants, {len(posters)} posters")
        )
        if now:
            from workers.actors import ingest_variant, prepare_poster

            for poster_id, generation in poster_requests:
                prepare_poster.fn(poster_id, generation)
            for variant_id, generation in requests:
                ingest_variant.fn(variant_id, generation)
            self.stdout.write(self.style.SUCCESS("ingest finished"))
        else:
            self.stdout.write("ingest and poster preparation queued for the ingest worker")
