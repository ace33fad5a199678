"""One HTTP request through the application uvicorn serves (`campaign.asgi.application`), as raw ASGI
messages, so that tests see exactly what a client on the network would: routing, middleware, the
fast paths in front of Django, and the raw path bytes a hostile client can send."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AsgiAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    header_list: tuple[tuple[str, str], ...] = ()  # every header, repeated ones (Set-Cookie) included

    def cookies(self) -> dict[str, str]:
        found = {}
        for name, value in self.header_list:
            if name == "set-cookie":
                pair = value.split(";", 1)[0]
                found[pair.split("=", 1)[0]] = pair.split("=", 1)[1]
        return found


def asgi_request(
    path: str,
    *,
    method: str = "GET",
    raw_path: bytes | None = None,
    query_string: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    client: tuple[str, int] = ("203.0.113.7", 50000),
) -> AsgiAnswer:
    from campaign.asgi import application

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode(),
        "root_path": "",
        "query_string": query_string,
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": client,
        "server": ("testserver", 80),
    }
    pending = [body]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        await asyncio.sleep(3600)  # the client waits for the answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await asyncio.wait_for(application(scope, receive, send), timeout=60)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    header_list = tuple((name.decode().lower(), value.decode()) for name, value in start["headers"])
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return AsgiAnswer(start["status"], dict(header_list), content, header_list)
