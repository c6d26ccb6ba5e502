"""Click-to-call fixtures: a case the agent works with a mobile number, the PBX as a real HTTP server on
the loopback interface, and signed call events as the phone system sends them."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from telephony.models import AgentExtension
from telephony.signing import sign
from tests.factories import ContactPointFactory, open_case

SECRET = "test-callback-secret-0123456789abcdef"
NUMBER = "+8613912345678"


@pytest.fixture
def worked_case(team_a):
    """An open case in team A's queue (the agent's), its cardholder with one mobile number."""
    case = open_case(team=team_a)
    point = ContactPointFactory(cardholder=case.account.cardholder, value=NUMBER, label="mobile")
    return case, point


class _PbxHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(
            {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
        )
        status, answer = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def pbx():
    """A click-to-call endpoint on 127.0.0.1: keeps each request it receives (`received`) and answers
    `answer` (status, body)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PbxHandler)
    server.received = []
    server.answer = (200, b'{"id": "pbx-42"}')
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def pbx_mode(settings, pbx, agent):
    """The PBX dialer, configured as in production, and the agent's extension."""
    settings.TELEPHONY_DIALER = "pbx"
    settings.TELEPHONY_PBX_URL = f"http://127.0.0.1:{pbx.server_port}/click-to-call"
    settings.TELEPHONY_PBX_TOKEN = "pbx-token"
    settings.TELEPHONY_CALLBACK_URL = "https://collections.test/telephony/events/"
    settings.TELEPHONY_CALLBACK_SECRET = SECRET
    AgentExtension.objects.create(user=agent, extension="8001")
    return pbx


def post_event(client, payload, *, secret=SECRET, signed_at=None, signature=None, body=None):
    """POST a call event to /telephony/events/ as the phone system does: the raw JSON body, its timestamp
    and HMAC-SHA256 signature in the headers."""
    raw = body if body is not None else json.dumps(payload).encode()
    timestamp = str(int(signed_at if signed_at is not None else time.time()))
    return client.post(
        reverse("telephony:events"),
        data=raw,
        content_type="application/json",
        headers={
            "X-Telephony-Timestamp": timestamp,
            "X-Telephony-Signature": signature or sign(secret, timestamp, raw),
        },
    )
