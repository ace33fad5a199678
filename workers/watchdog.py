"""Leases on the Job row, heartbeats, and a process-level watchdog for stages stuck in native code.

Why: Dramatiq's time limit raises an exception inside the worker thread, which cannot interrupt
torch, OpenCV or an encoder busy in C; and a worker killed outright (OOM, SIGKILL, a lost node) leaves
its job in a stage nobody works on. So every stage runs under a **lease** on its Job row:

* `stage_lease()` (used by `workers.actors._run_stage`) claims the row with a compare-and-set
  (`lease_owner`, `lease_expires_at`), a heartbeat thread renews it every `LEASE_TTL_S / 3` seconds and
  it is released when the stage returns or raises. A redelivered message that finds a live lease of
  the same stage held by someone else does nothing: a long CPU stage is not run twice at once.
* If the worker dies, nobody renews: the lease expires and the reconciler (`workers.reconciler`)
  re-enqueues the job within `LEASE_TTL_S + RECONCILE_INTERVAL_S` (under the watchdog, below, within
  a poll). If a heartbeat is starved (a native call holding the GIL) and a second worker takes the job
  over, the second run is harmless: results go to fixed storage keys and state changes are
  compare-and-set, so the first run's late writes are either identical or refused.
* `python -m workers.watchdog -- dramatiq workers.actors ...` supervises the worker command from a
  separate process that no GIL can starve: it renews the leases of stages whose worker process is alive
  and inside its deadline, and when a stage overruns its actor's time limit by `WATCHDOG_GRACE_S` it
  kills the worker process group, expires that job's lease (so the reconciler retries it, or fails it
  with `stage_timeout` after `MAX_RECOVERIES`), and starts the worker command again. When a stage's
  worker process dies (SIGKILL, OOM) it does not wait for the lease to expire: it releases the lease
  and re-enqueues the job at once. It also restarts a worker command that exited on its own (Dramatiq
  stops all its processes when one dies).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

logger = logging.getLogger(__name__)

# Stage of a lease <-> the actor that runs it.
STAGE_ACTOR = {"analyze": "analyze_job", "posters": "render_posters", "video": "render_video"}
DEFAULT_TIME_LIMIT_S = 1200.0


def _setting(name: str, default: float) -> float:
    from django.conf import settings

    return float(getattr(settings, name, os.environ.get(name, default)))


def lease_ttl_s() -> float:
    """Seconds a lease lives without a heartbeat: the bound on noticing a dead worker."""
    return _setting("LEASE_TTL_S", 60.0)


def _watch_dir() -> Path | None:
    path = os.environ.get("PROTAGONIST_WATCHDOG_DIR", "")
    return Path(path) if path else None


@dataclass
class StageLease:
    """What a stage holds while it runs. `busy_elsewhere`: a live lease of this stage exists, skip."""

    job_id: str
    stage: str
    owner: str
    held: bool = False
    busy_elsewhere: bool = False
    lost: threading.Event = field(default_factory=threading.Event)


def _lease_owner(stage: str) -> str:
    return f"{stage}/{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def lease_acquire(*, job_id: str, stage: str, owner: str, ttl_s: float) -> bool:
    """Claim the job's lease for `stage`, compare-and-set. Free = none, expired, or another stage's.

    Another stage's lease is free because a stage enqueues the next one just before it returns: the
    next message may arrive while the previous stage still holds its lease for a few milliseconds.
    """
    from django.db.models import Q
    from django.utils import timezone

    from campaign.models import ACTIVE_STATES, Job

    now = timezone.now()
    free = (
        Q(lease_expires_at__isnull=True)
        | Q(lease_expires_at__lt=now)
        | ~Q(lease_owner__startswith=f"{stage}/")
    )
    return bool(
        Job.objects.filter(free, pk=job_id, state__in=ACTIVE_STATES).update(
            lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl_s)
        )
    )


def lease_renew(*, job_id: str, owner: str, ttl_s: float) -> bool:
    """Extend a lease we still own; False when it was taken over or released."""
    from django.utils import timezone

    from campaign.models import Job

    return bool(
        Job.objects.filter(pk=job_id, lease_owner=owner).update(
            lease_expires_at=timezone.now() + timedelta(seconds=ttl_s)
        )
    )


def lease_release(*, job_id: str, owner: str) -> None:
    from campaign.models import Job

    Job.objects.filter(pk=job_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


def lease_expire(*, job_id: str, owner: str) -> bool:
    """Make a lease look dead now (the watchdog killed its worker): the reconciler takes it next pass."""
    from django.utils import timezone

    from campaign.models import Job

    return bool(
        Job.objects.filter(pk=job_id, lease_owner=owner).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
    )


def _current_time_limit_s() -> float:
    """The running actor's time limit (seconds), from the current Dramatiq message."""
    try:
        import dramatiq
        from dramatiq.middleware import CurrentMessage

        message = CurrentMessage.get_current_message()
        if message is None:
            return DEFAULT_TIME_LIMIT_S
        limit = message.options.get("time_limit")
        if limit is None:
            actor = dramatiq.get_broker().get_actor(message.actor_name)
            limit = actor.options.get("time_limit")
        return float(limit) / 1000.0 if limit else DEFAULT_TIME_LIMIT_S
    except Exception:  # no broker/actor context (called from a test or a shell)
        return DEFAULT_TIME_LIMIT_S


def _heartbeat(lease: StageLease, ttl_s: float, stop: threading.Event) -> None:
    from django.db import close_old_connections, connection

    try:
        while not stop.wait(ttl_s / 3.0):
            try:
                if not lease_renew(job_id=lease.job_id, owner=lease.owner, ttl_s=ttl_s):
                    lease.lost.set()
                    logger.warning("job %s: %s lease lost to another worker", lease.job_id, lease.stage)
                    return
            except Exception:  # database blip: try again next beat, the TTL has slack for two misses
                logger.warning("job %s: heartbeat failed", lease.job_id, exc_info=True)
                close_old_connections()
    finally:
        connection.close()


@contextmanager
def stage_lease(*, job_id: str, stage: str, ttl_s: float | None = None) -> Iterator[StageLease]:
    """Hold the job's lease for `stage` while the body runs (see the module docstring).

    Yields a StageLease; when `busy_elsewhere` is true the caller must return without working. When
    the job is not in an active state there is no lease to take and the caller's own state checks
    decide (they return early).
    """
    from campaign.models import ACTIVE_STATES, Job
    from campaign.observability.logging import log_context

    ttl = lease_ttl_s() if ttl_s is None else ttl_s
    lease = StageLease(job_id=str(job_id), stage=stage, owner=_lease_owner(stage))
    with log_context(job_id=job_id, stage=stage):
        lease.held = lease_acquire(job_id=lease.job_id, stage=stage, owner=lease.owner, ttl_s=ttl)
        if not lease.held:
            row = Job.objects.filter(pk=job_id).values("state", "lease_owner").first()
            lease.busy_elsewhere = bool(row and row["state"] in ACTIVE_STATES)
            if lease.busy_elsewhere:
                logger.info("job %s: %s already running elsewhere (%s)", job_id, stage, row["lease_owner"])
            yield lease
            return
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(lease, ttl, stop), daemon=True, name="lease")
        beat.start()
        watch_file = _watch_register(lease, _current_time_limit_s())
        try:
            yield lease
        finally:
            stop.set()
            if watch_file is not None:
                watch_file.unlink(missing_ok=True)
            beat.join(timeout=5)
            lease_release(job_id=lease.job_id, owner=lease.owner)


def _watch_register(lease: StageLease, time_limit_s: float) -> Path | None:
    """Tell the supervising watchdog (if any) which stage this thread runs and until when."""
    directory = _watch_dir()
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{os.getpid()}-{threading.get_ident()}.json"
    record = {
        "pid": os.getpid(),
        "job_id": lease.job_id,
        "stage": lease.stage,
        "owner": lease.owner,
        "deadline": time.time() + time_limit_s,
    }
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(record))
    partial.replace(path)
    return path


# ------------------------------------------------------------------------------------- supervisor


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM if the supervisor is killed, instead of running on orphaned."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _watch_record(path: Path) -> dict[str, object] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):  # unlinked meanwhile, or half-written by a killed process
        return None
    return record if isinstance(record, dict) else None


class Supervisor:
    """Run a worker command, keep its stages' leases alive, kill it when a stage overruns.

    One supervisor per worker command (per container). It owns a watch directory that the worker's
    stages register in (`PROTAGONIST_WATCHDOG_DIR`, exported to the child).
    """

    def __init__(self, command: list[str], *, watch_dir: Path, grace_s: float, restart_delay_s: float):
        self.command = command
        self.watch_dir = watch_dir
        self.grace_s = grace_s
        self.restart_delay_s = restart_delay_s
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.kills = 0

    def start_child(self) -> None:
        for stale in self.watch_dir.glob("*.json"):  # stages of a worker that is gone
            record = _watch_record(stale)
            if record is not None and not _alive(int(record["pid"])):
                self.release_dead(record)
            stale.unlink(missing_ok=True)
        env = {**os.environ, "PROTAGONIST_WATCHDOG_DIR": str(self.watch_dir)}
        self.child = subprocess.Popen(
            self.command, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        logger.info("watchdog: started %s (pid %s)", " ".join(self.command), self.child.pid)

    def stop_child(self, sig: int = signal.SIGTERM, wait_s: float = 10.0) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()

    def release_dead(self, record: dict[str, object]) -> None:
        """A stage's worker process died mid-stage: hand its job on now, not when the lease expires.

        The lease is expired and the job recovered in this process (the reconciler's compare-and-set
        recovery, so `MAX_RECOVERIES` counts it and a reconciler pass racing us does nothing twice).
        """
        job_id, owner = str(record["job_id"]), str(record["owner"])
        if not lease_expire(job_id=job_id, owner=owner):
            return  # the stage released it after all, or someone recovered it already
        logger.warning(
            "watchdog: worker pid %s died in job %s stage %s; releasing its lease now",
            record["pid"],
            job_id,
            record["stage"],
        )
        from workers.reconciler import recover_expired_now

        recover_expired_now(job_ids=[job_id])

    def check(self) -> None:
        """One pass over the registered stages: renew, forget the dead, cut off the overdue."""
        ttl = lease_ttl_s()
        now = time.time()
        for path in self.watch_dir.glob("*.json"):
            record = _watch_record(path)
            if record is None:
                continue
            if not _alive(int(record["pid"])):
                self.release_dead(record)
                path.unlink(missing_ok=True)
                continue
            if now > float(record["deadline"]) + self.grace_s:
                self.kills += 1
                logger.error(
                    "watchdog: job %s stage %s overran its time limit by %.0f s; killing the worker",
                    record["job_id"],
                    record["stage"],
                    now - float(record["deadline"]),
                )
                self.stop_child(signal.SIGKILL, wait_s=5.0)
                lease_expire(job_id=record["job_id"], owner=record["owner"])
                path.unlink(missing_ok=True)
                return
            lease_renew(job_id=record["job_id"], owner=record["owner"], ttl_s=ttl)

    def run(self, *, poll_s: float = 1.0) -> int:
        def on_signal(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.watch_dir.mkdir(parents=True, exist_ok=True)
        self.start_child()
        while not self.stopping:
            time.sleep(poll_s)
            try:
                self.check()
            except Exception:  # the database may be down for a moment; leases have slack
                logger.warning("watchdog: check failed", exc_info=True)
                from django.db import close_old_connections

                close_old_connections()
            if self.stopping:
                break
            if self.child is not None and self.child.poll() is not None:
                logger.warning(
                    "watchdog: worker exited with %s; restarting in %.0f s",
                    self.child.returncode,
                    self.restart_delay_s,
                )
                time.sleep(self.restart_delay_s)
                if not self.stopping:
                    self.start_child()
        self.stop_child(signal.SIGTERM, wait_s=8.0)  # inside scripts/run's 10 s per process
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workers.watchdog",
        description="Supervise a Dramatiq worker command: lease heartbeats, stage deadlines, restarts.",
    )
    parser.add_argument("--watch-dir", default="", help="default: <LOCAL_CACHE_DIR>/watchdog/<pid>")
    parser.add_argument("--grace", type=float, default=float(os.environ.get("WATCHDOG_GRACE_S", 30)))
    parser.add_argument("--restart-delay", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- dramatiq workers.actors ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the worker command after --, e.g. -- dramatiq workers.actors --queues cpu")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")
    import django

    django.setup()
    from django.conf import settings

    watch_dir = Path(args.watch_dir or Path(settings.LOCAL_CACHE_DIR) / "watchdog" / str(os.getpid()))
    supervisor = Supervisor(
        command, watch_dir=watch_dir, grace_s=args.grace, restart_delay_s=args.restart_delay
    )
    return supervisor.run(poll_s=args.poll)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(main())
