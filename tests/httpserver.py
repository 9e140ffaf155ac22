"""A real local HTTP endpoint for tests: a partner webhook receiver or a Slack webhook.

``LocalEndpoint`` runs ``http.server.ThreadingHTTPServer`` on 127.0.0.1 with a free
port, responds to each request with the next scripted reply, records every request
(headers and raw body bytes) and, given a Standard Webhooks secret, verifies the
signature over the raw bytes before anything else. Like a real partner it accepts
each ``webhook-id`` once: a repeated id is answered like the first but counted as a
duplicate.

    with LocalEndpoint(script=[500, 200], secret=SECRET) as ep:
        client = WebhookClient(ep.url, SECRET, ...)
        client.send("msg_1", body)
    assert ep.accepted_ids == ["msg_1"]

Script items are an HTTP status (int) or a :class:`Reply`. When the script is used
up, every request gets ``default`` (200 with body ``ok``, which is also what Slack's
incoming webhooks answer).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """One scripted response; ``delay_s`` is slept before sending it (for timeouts).

    ``trickle_s`` sends the response one byte at a time with that many seconds
    between bytes (a slow or hostile server): the status line and headers too, or
    only the body when ``trickle_body_only`` is set. ``body_size``
    replaces ``body`` with that many ``x`` bytes, written in 64 KiB chunks, so a
    test can send a large body without holding it in memory.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0
    trickle_s: float = 0.0
    trickle_body_only: bool = False
    body_size: int | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: lower-cased headers and the raw body bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    signature_valid: bool | None
    received_at: float
    """time.monotonic() when the request was read."""


class _Server(ThreadingHTTPServer):
    """The standard server, quiet when a client drops its connection.

    Timeout tests close connections mid-request on purpose, and the standard
    server prints a traceback for each of them.
    """

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LocalEndpoint:
    """A scripted HTTP endpoint on 127.0.0.1; use it as a context manager."""

    def __init__(
        self,
        script: Sequence[int | Reply] = (),
        secret: str | None = None,
        default: int | Reply = 200,
        path: str = "/hook",
    ) -> None:
        self._script = [_as_reply(item) for item in script]
        self._default = _as_reply(default)
        self._verifier = Webhook(secret) if secret else None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.path = path
        self.requests: list[RecordedRequest] = []
        self.accepted_ids: list[str] = []
        """Unique webhook-ids accepted with 2xx and a valid signature, in order."""
        self.duplicates = 0
        """Requests given a 2xx whose webhook-id was accepted before."""
        self.body_bytes_written: list[int] = []
        """Body bytes that reached the socket, one entry per finished response."""

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalEndpoint is not started; use it in a with block")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def start(self) -> LocalEndpoint:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-endpoint",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers, close the socket, join the thread."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self) -> Reply:
        return self._script.pop(0) if self._script else self._default

    def _verify(self, headers: dict[str, str], body: bytes) -> bool | None:
        if self._verifier is None:
            return None
        try:
            self._verifier.verify(body, headers, json_parse=False)
        except WebhookVerificationError:
            return False
        return True

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        """Decide the reply, record the request and count acceptance, atomically."""
        with self._lock:
            valid = self._verify(headers, body)
            if valid is False:
                reply = Reply(401, body=b"invalid signature")
            else:
                reply = self._next_reply()
            self.requests.append(
                RecordedRequest(
                    method, path, headers, body, reply.status, valid, time.monotonic()
                )
            )
            message_id = headers.get("webhook-id")
            if message_id and 200 <= reply.status < 300:
                if message_id in self.accepted_ids:
                    self.duplicates += 1
                else:
                    self.accepted_ids.append(message_id)
        return reply


def _as_reply(item: int | Reply) -> Reply:
    return item if isinstance(item, Reply) else Reply(status=item)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Scripted"


def _handler_for(endpoint: LocalEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (name fixed by http.server)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = endpoint._handle("POST", self.path, headers, body)
            if reply.delay_s and endpoint._stopping.wait(reply.delay_s):
                self.close_connection = True
                return
            self._answer(reply)

        def _answer(self, reply: Reply) -> None:
            size = len(reply.body) if reply.body_size is None else reply.body_size
            written = 0
            try:
                if reply.trickle_s:
                    self._trickle(reply)
                    return
                self.send_response(reply.status, _phrase(reply.status))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(size))
                self.end_headers()
                if reply.body_size is None:
                    self.wfile.write(reply.body)
                    written = size
                    return
                chunk = b"x" * CHUNK_BYTES
                while written < size:
                    part = chunk[: size - written]
                    self.wfile.write(part)
                    written += len(part)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up first
            finally:
                with endpoint._lock:
                    endpoint.body_bytes_written.append(written)

        def _trickle(self, reply: Reply) -> None:
            lines = [f"HTTP/1.1 {reply.status} {_phrase(reply.status)}"]
            lines += [f"{name}: {value}" for name, value in reply.headers.items()]
            lines.append(f"content-length: {len(reply.body)}")
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body
            self.close_connection = True
            start = len(raw) - len(reply.body) if reply.trickle_body_only else 0
            self.wfile.write(raw[:start])
            for index in range(start, len(raw)):
                self.wfile.write(raw[index : index + 1])
                self.wfile.flush()
                if endpoint._stopping.wait(reply.trickle_s):
                    return

        def log_message(self, format: str, *args: object) -> None:
            """Silence per-request lines; tests read ``endpoint.requests`` instead."""

    return Handler
