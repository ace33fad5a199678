"""The watchdog: `python -m workers.watchdog -- dramatiq workers.actors ...` supervises one worker command.

From a separate process that no GIL can starve it renews the leases of stages whose worker process is
alive and inside its deadline (stages register in a watch directory, `workers.middleware.stage_lease`).
When a stage overruns its actor's time limit by `WATCHDOG_GRACE_S` (native code Dramatiq's time limit
cannot interrupt) it kills the worker process group, expires that job's lease (so the reconciler
retries it, or fails it with `stage_timeout` after `MAX_RECOVERIES`), and starts the worker command
again. When a stage's worker process dies (SIGKILL, OOM) it does not wait for the lease to expire: it
releases the lease and re-enqueues the job at once. It also restarts a worker command that exited on
its own (Dramatiq stops all its processes when one dies).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from campaign.services.leases import lease_expire, lease_renew, lease_ttl_s
from workers.middleware import WATCH_DIR_ENV

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class WatchRecord:
    """The stage one worker thread runs, as `workers.middleware` registers it in the watch folder."""

    pid: int
    job_id: str
    stage: str
    owner: str
    deadline: float  # time.time() by which the stage must be done


def _watch_record(path: Path) -> WatchRecord | None:
    try:
        raw = json.loads(path.read_text())
        return WatchRecord(
            pid=int(raw["pid"]),
            job_id=str(raw["job_id"]),
            stage=str(raw["stage"]),
            owner=str(raw["owner"]),
            deadline=float(raw["deadline"]),
        )
    except (OSError, ValueError, KeyError, TypeError):  # unlinked meanwhile, or half-written by a kill
        return None


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
            if record is not None and not _alive(record.pid):
                self.release_dead(record)
            stale.unlink(missing_ok=True)
        env = {**os.environ, WATCH_DIR_ENV: str(self.watch_dir)}
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

    def release_dead(self, record: WatchRecord) -> None:
        """A stage's worker process died mid-stage: hand its job on now, not when the lease expires.

        The lease is expired and the job recovered in this process (the reconciler's compare-and-set
        recovery, so `MAX_RECOVERIES` counts it and a reconciler pass racing us does nothing twice).
        """
        job_id, owner = record.job_id, record.owner
        if not lease_expire(job_id=job_id, owner=owner):
            return  # the stage released it after all, or someone recovered it already
        logger.warning(
            "watchdog: worker pid %s died in job %s stage %s; releasing its lease now",
            record.pid,
            job_id,
            record.stage,
        )
        from campaign.services.recovery import recover_expired_now

        recover_expired_now(job_ids=[job_id])

    def check(self) -> None:
        """One pass over the registered stages: renew, forget the dead, cut off the overdue."""
        ttl = lease_ttl_s()
        now = time.time()
        for path in self.watch_dir.glob("*.json"):
            record = _watch_record(path)
            if record is None:
                continue
            if not _alive(record.pid):
                self.release_dead(record)
                path.unlink(missing_ok=True)
                continue
            if now > record.deadline + self.grace_s:
                self.kills += 1
                logger.error(
                    "watchdog: job %s stage %s overran its time limit by %.0f s; killing the worker",
                    record.job_id,
                    record.stage,
                    now - record.deadline,
                )
                self.stop_child(signal.SIGKILL, wait_s=5.0)
                lease_expire(job_id=record.job_id, owner=record.owner)
                path.unlink(missing_ok=True)
                return
            lease_renew(job_id=record.job_id, owner=record.owner, ttl_s=ttl)

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
