"""A local stand-in for a partner's webhook receiver, used by ``leadshare demo``.

It listens on 127.0.0.1 only, verifies Standard Webhooks signatures over the raw
body, and keeps each ``webhook-id`` once, the way a real partner deduplicates.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

log = logging.getLogger(__name__)


class DemoReceiver:
    """Receive signed lead webhooks on 127.0.0.1:port and append them to a JSONL file."""

    def __init__(self, port: int, secret: str, out_file: Path) -> None:
        self.seen: set[str] = set()
        self.rejected = 0
        verifier = Webhook(secret)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    verifier.verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    receiver.rejected += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                message_id = self.headers["webhook-id"]
                if message_id not in receiver.seen:
                    receiver.seen.add(message_id)
                    with out_file.open("a", encoding="utf-8") as handle:
                        handle.write(
                            json.dumps(
                                {"webhook_id": message_id, "body": json.loads(body)}
                            )
                            + "\n"
                        )
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DemoReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
