"""Production refuses to start without master keys; with them, `manage.py check --deploy` is clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[3]


def _manage(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PROTAGONIST_MASTER_KEYS", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    }
    environment.update({"PROTAGONIST_VAR": str(tmp_path), "ALLOWED_HOSTS": "protagonist.example", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_master_keys(tmp_path: Path) -> None:
    result = _manage(["check"], tmp_path, PROTAGONIST_ENV="production", SECRET_KEY="s" * 60)

    assert result.returncode != 0
    assert "PROTAGONIST_MASTER_KEYS is not set. Production refuses to start" in result.stderr
    assert not (tmp_path / "dev-master-key").exists()


def test_production_settings_pass_the_deploy_checklist(tmp_path: Path) -> None:
    result = _manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        PROTAGONIST_ENV="production",
        PROTAGONIST_MASTER_KEYS=Fernet.generate_key().decode(),
        SECRET_KEY=Fernet.generate_key().decode() * 2,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_cdn_without_url_signing_refuses_to_start(tmp_path: Path) -> None:
    result = _manage(
        ["check"],
        tmp_path,
        STORAGE_BACKEND="s3",
        S3_BUCKET="media",
        CDN_DOMAIN="cdn.protagonist.example",
    )

    assert result.returncode != 0
    assert "CDN URLs would not be signed" in result.stderr
