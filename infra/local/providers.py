"""The two provider APIs moto does not implement, served on 127.0.0.1 for the local stack.

AWS End User Messaging SMS (``pinpoint-sms-voice-v2`` ``SendTextMessage``, JSON protocol) and AWS End User Messaging
Social (``socialmessaging`` ``SendWhatsAppMessage``, REST-JSON): the router's real adapters call them through boto3,
pointed here by botocore's per-service endpoint variables. Each accepted message is kept (tests and the console read
them); numbers registered with ``reject`` answer with the service's own modelled error, so fallback can be seen end to
end. Everything else (DynamoDB, SQS, Step Functions, SES, SNS, Secrets Manager) is moto.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class ProviderMessage:
    """One message a provider accepted."""

    channel: str  # sms | whatsapp
    to: str
    body: str
    request: dict[str, Any]
    message_id: str


class LocalProviders:
    """SMS and WhatsApp provider endpoints; ``messages`` lists what they accepted."""

    def __init__(self, console: Callable[[str], None] | None = None) -> None:
        self.messages: list[ProviderMessage] = []
        self._rejections: dict[str, tuple[int, str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._console = console
        providers = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(".SendTextMessage"):
                    status, answer = providers._sms(body)
                    content_type = "application/x-amz-json-1.0"
                elif self.path.startswith("/v1/whatsapp/send"):
                    status, answer = providers._whatsapp(body)
                    content_type = "application/json"
                else:
                    status, answer, content_type = (
                        400,
                        {"message": f"not emulated: {target or self.path}"},
                        "application/json",
                    )
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if status >= 400 and "__type" in answer:
                    self.send_header("x-amzn-ErrorType", answer["__type"])
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-providers", daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def environment(self) -> dict[str, str]:
        """botocore's per-service endpoint variables that point the SMS and WhatsApp clients here."""
        return {
            "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2": self.endpoint_url,
            "AWS_ENDPOINT_URL_SOCIALMESSAGING": self.endpoint_url,
        }

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a serve_forever() that never started otherwise
            self._server.shutdown()
        self._server.server_close()

    def reject(self, number: str, status: int, error_type: str, **fields: Any) -> None:
        """Answer every message to ``number`` with the modelled error ``error_type`` (e.g. ValidationException)."""
        with self._lock:
            self._rejections[number] = (status, error_type, fields)

    def sent_to(self, number: str) -> list[ProviderMessage]:
        with self._lock:
            return [message for message in self.messages if message.to == number]

    # ---------------------------------------------------------------- the two operations
    def _rejected(self, number: str) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            rejection = self._rejections.get(number)
        if rejection is None:
            return None
        status, error_type, fields = rejection
        return status, {"__type": error_type, "message": fields.pop("message", error_type), **fields}

    def _sms(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        number = str(request.get("DestinationPhoneNumber", ""))
        rejected = self._rejected(number)
        if rejected:
            return rejected
        message = ProviderMessage("sms", number, str(request.get("MessageBody", "")), request, str(uuid.uuid4()))
        self._keep(message)
        return 200, {"MessageId": message.message_id}

    def _whatsapp(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raw = request.get("message", "")
        meta = json.loads(base64.b64decode(raw)) if isinstance(raw, str) else {}
        number = str(meta.get("to", ""))
        rejected = self._rejected(number)
        if rejected:
            return rejected
        if meta.get("type") == "template":
            body = f"[template {meta['template']['name']}]"
        else:
            body = str(meta.get("text", {}).get("body", ""))
        message = ProviderMessage("whatsapp", number, body, meta, f"wamid.{uuid.uuid4().hex}")
        self._keep(message)
        return 200, {"messageId": message.message_id}

    def _keep(self, message: ProviderMessage) -> None:
        with self._lock:
            self.messages.append(message)
