"""Dramatiq actors: thin, idempotent interfaces that call the engine and campaign services.

Importing the package sets Django up, so `dramatiq workers.actors` works as a worker command line.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")
django.setup()
