"""The ceiling: a bare ASGI app answering every request with a constant body, served exactly like
regauth (same uvicorn, httptools, lifespan on, no access log, Date header, no Server header).

    python bench/bare_asgi.py --host 127.0.0.1 --port 8090
"""

from __future__ import annotations

import argparse

import uvicorn

BODY = b'{"ok":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:                       # read the request body, as any real service must
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    print(f"bare-asgi listening on http://{a.host}:{a.port}", flush=True)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", access_log=False, lifespan="on",
                http="httptools", server_header=False, date_header=True)


if __name__ == "__main__":
    main()
