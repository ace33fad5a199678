"""/healthz checks the database, broker and storage and names what is broken; /livez depends on nothing."""

from __future__ import annotations

from typing import Any

from django.test import Client


def test_healthz_checks_database_broker_and_storage(db: Any) -> None:
    response = Client().get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())


def test_healthz_is_503_naming_the_broken_dependency(db: Any, monkeypatch: Any) -> None:
    from campaign.observability import health

    def broker_down() -> None:
        raise ConnectionRefusedError("no broker")

    monkeypatch.setitem(health.CHECKS, "broker", broker_down)

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False,
        "error": "ConnectionRefusedError",
        "ms": response.json()["checks"]["broker"]["ms"],
    }
    assert Client().get("/livez").status_code == 200  # liveness never depends on others
