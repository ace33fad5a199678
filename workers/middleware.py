"""Dramatiq middleware of the worker processes: what every worker does before it takes messages."""

from __future__ import annotations

import logging

from dramatiq.middleware import Middleware

from campaign.services.scratch import render_scratch_sweep

logger = logging.getLogger(__name__)


class EngineWarmup(Middleware):  # type: ignore[misc]
    """Dramatiq middleware: import the engine (torch, MediaPipe) before a worker takes messages.

    Why: imported lazily inside a stage, the first job after every (re)start pays seconds of imports,
    and a time-limit exception that lands inside `import torch` leaves a half-initialised module that
    fails every later job of that process ("partially initialized module 'torch'"), as the fault tests
    showed. Imported at boot, neither can happen.
    """

    MODULES = ("swap.analysis", "swap.asset", "swap.poster", "swap.film")

    def before_worker_boot(self, broker: object, worker: object) -> None:
        import importlib

        for module in self.MODULES:
            try:
                importlib.import_module(module)
            except ImportError:  # an engine part missing here: the stage that needs it reports it
                logger.warning("engine warm-up: %s not importable", module, exc_info=True)


class RenderScratchSweep(Middleware):  # type: ignore[misc]
    """Remove the render folders of worker processes that died mid-render (a plaintext partial film).

    A worker killed outright cannot clean up after itself; the next one on this machine does, before
    its first message (campaign.services.scratch).
    """

    def before_worker_boot(self, broker: object, worker: object) -> None:
        try:
            render_scratch_sweep()
        except OSError:  # a scratch dir we cannot read must not keep the worker from starting
            logger.warning("could not sweep abandoned render folders", exc_info=True)
