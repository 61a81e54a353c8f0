#!/usr/bin/env python3
"""webhook-receiver.py - an HTTP receiver of alerts for the C tests and the
end-to-end specs: checks Standard Webhooks signatures, logs every request,
and answers as a script says.

Usage:
  webhook-receiver.py [--secret whsec_...] [--log FILE] [--script STEPS]
                      [--delay-ms MS] [--tolerance S] [--port N]

It binds 127.0.0.1 (port 0 unless --port: the system picks one), prints the
port alone on the first line of stdout, flushes, and serves until killed
(SIGTERM or SIGINT). Any method and path is a delivery, but /_receiver/...
(below): the webhook, Slack and Alertmanager sinks of one test can all point
at one receiver, told apart by path (e.g. /hook, /slack, /api/v2/alerts).

--secret whsec_<base64>  Every delivery must carry a valid Standard Webhooks
    signature: webhook-id, webhook-timestamp (unix seconds, within
    --tolerance seconds of now, default 300) and webhook-signature, a
    space-separated list of "v1,<base64 HMAC-SHA256>" of
    "<webhook-id>.<webhook-timestamp>.<body>" keyed with the base64-decoded
    secret. A delivery without one that matches is answered 401, logged with
    "verified": false and takes no step of the script. Without --secret
    nothing is checked ("verified": null).

--script STEPS  How the deliveries are answered, one comma-separated step
    per delivery in order of arrival; when the steps run out, 200. A step:
      200, 500, 400, ...   that status
      429:2                that status with "Retry-After: 2" (seconds)
      503:d3               ... with Retry-After as an HTTP date 3 s ahead
      hang:5               wait 5 s (fractions allowed), then answer 200
      hang:5:500           wait 5 s, then answer 500
      close                close the connection without an answer
    A step may be repeated with *N: "500*3,200" is "500,500,500,200".

--delay-ms MS  Every delivery waits MS milliseconds before its answer (on
    top of any hang), e.g. to keep requests in flight.

Answers carry a small JSON body: {"ok": true} for 2xx, {"error": "..."}
otherwise.

Log (--log FILE, appended, flushed per line, and GET /_receiver/log): one
JSON object per delivery, written when it arrives, before any wait:
  {"n": 1, "time": 1714557600.123, "method": "POST", "path": "/hook",
   "headers": {"webhook-id": "...", ...},   names in lower case
   "body": "...",                           the body as text (UTF-8)
   "verified": true | false | null,
   "webhook_id": "..." | null,
   "status": 200 | null,                    what it will be answered; null: close
   "duplicate": false}                      true when a delivery with this
                                            webhook-id was answered 2xx before

Control endpoints (GET or POST, parameters in the query string, never logged,
no signature needed):
  /_receiver/script?steps=500,200   replaces the remaining script
  /_receiver/delay?ms=MS            sets --delay-ms
  /_receiver/reset                  no script, no delay, duplicates forgotten
  /_receiver/log                    the log so far, JSON lines
"""

import argparse
import base64
import email.utils
import hashlib
import hmac
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def parse_script(text):
    """Steps from "500*2,429:2,hang:1.5:500,close"; raises ValueError."""
    steps = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        times = 1
        if "*" in item:
            item, n = item.rsplit("*", 1)
            times = int(n)
        parts = item.split(":")
        if parts[0] == "close" and len(parts) == 1:
            step = ("close", 0, None, 0)
        elif parts[0] == "hang" and len(parts) in (2, 3):
            status = int(parts[2]) if len(parts) == 3 else 200
            step = ("answer", status, None, float(parts[1]))
        elif parts[0].isdigit() and len(parts) in (1, 2):
            retry_after = parts[1] if len(parts) == 2 else None
            if retry_after is not None and not (
                    retry_after.isdigit() or (retry_after[:1] == "d" and retry_after[1:].isdigit())):
                raise ValueError("bad Retry-After in step %r" % item)
            step = ("answer", int(parts[0]), retry_after, 0)
        else:
            raise ValueError("bad step %r" % item)
        steps.extend([step] * times)
    return steps


class State:
    """Script, secret and log, shared by the server's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.key = None
        self.tolerance = 300
        self.script = []
        self.delay = 0.0
        self.log_file = None
        self.lines = []
        self.n = 0
        self.delivered_ids = set()

    def next_step(self):
        with self.lock:
            return self.script.pop(0) if self.script else ("answer", 200, None, 0)

    def log(self, entry):
        with self.lock:
            self.n += 1
            entry["n"] = self.n
            line = json.dumps(entry, separators=(",", ":"))
            self.lines.append(line)
            if self.log_file:
                self.log_file.write(line + "\n")
                self.log_file.flush()


STATE = State()


def decode_secret(secret):
    if secret.startswith("whsec_"):
        secret = secret[len("whsec_"):]
    return base64.b64decode(secret, validate=True)


def verify(headers, body):
    """True when the request carries a valid signature of body."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not msg_id or not ts or not sigs:
        return False
    try:
        if abs(time.time() - int(ts)) > STATE.tolerance:
            return False
    except ValueError:
        return False
    want = base64.b64encode(
        hmac.new(STATE.key, b"%s.%s.%s" % (msg_id.encode(), ts.encode(), body),
                 hashlib.sha256).digest()).decode("ascii")
    for sig in sigs.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, want):
            return True
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers
    server_version = "webhook-receiver"
    # Headers and body go out in two writes: with Nagle's algorithm the
    # second waits for the client's delayed ACK, 40 ms per request.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        if not isinstance(body, bytes):
            body = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # A sender that timed out has gone; nothing to tell it.
            self.close_connection = True

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def control(self, path, query):
        try:
            if path == "/_receiver/script":
                steps = parse_script(query.get("steps", [""])[0])
                with STATE.lock:
                    STATE.script = steps
            elif path == "/_receiver/delay":
                with STATE.lock:
                    STATE.delay = int(query.get("ms", ["0"])[0]) / 1000.0
            elif path == "/_receiver/reset":
                with STATE.lock:
                    STATE.script = []
                    STATE.delay = 0.0
                    STATE.delivered_ids = set()
            elif path == "/_receiver/log":
                with STATE.lock:
                    text = "".join(l + "\n" for l in STATE.lines)
                self.send(200, text)
                return
            else:
                self.send(404, '{"error":"no such control endpoint"}')
                return
        except ValueError as e:
            self.send(400, json.dumps({"error": str(e)}))
            return
        self.send(200, '{"ok":true}')

    def handle_any(self):
        url = urlsplit(self.path)
        body = self.body()
        if url.path.startswith("/_receiver/"):
            self.control(url.path, parse_qs(url.query))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified = None
        if STATE.key is not None:
            verified = verify(headers, body)
        msg_id = headers.get("webhook-id")
        if verified is False:
            step = ("answer", 401, None, 0)
        else:
            step = STATE.next_step()
        kind, status, retry_after, hang = step
        with STATE.lock:
            duplicate = msg_id is not None and msg_id in STATE.delivered_ids
            if kind == "answer" and 200 <= status < 300 and msg_id is not None:
                STATE.delivered_ids.add(msg_id)
            delay = STATE.delay
        STATE.log({
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
            "verified": verified,
            "webhook_id": msg_id,
            "status": status if kind == "answer" else None,
            "duplicate": duplicate,
        })
        if hang or delay:
            time.sleep(hang + delay)
        if kind == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        extra = []
        if retry_after is not None:
            if retry_after.startswith("d"):
                extra.append(("Retry-After", email.utils.formatdate(
                    time.time() + int(retry_after[1:]), usegmt=True)))
            else:
                extra.append(("Retry-After", retry_after))
        if 200 <= status < 300:
            self.send(status, '{"ok":true}', extra)
        elif verified is False:
            self.send(status, '{"error":"invalid webhook signature"}', extra)
        else:
            self.send(status, json.dumps({"error": "scripted answer %d" % status}), extra)


def main():
    p = argparse.ArgumentParser(description="An alert receiver for tests.")
    p.add_argument("--secret", help="whsec_<base64>: signatures are verified")
    p.add_argument("--log", help="file to append one JSON line per delivery to")
    p.add_argument("--script", default="", help="answers, e.g. 500,200 or 429:2 or hang:5")
    p.add_argument("--delay-ms", type=int, default=0, help="wait before every answer")
    p.add_argument("--tolerance", type=int, default=300,
                   help="seconds webhook-timestamp may be off")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()

    try:
        STATE.script = parse_script(args.script)
        if args.secret:
            STATE.key = decode_secret(args.secret)
    except ValueError as e:
        sys.exit("webhook-receiver: %s" % e)
    STATE.delay = args.delay_ms / 1000.0
    STATE.tolerance = args.tolerance
    if args.log:
        STATE.log_file = open(args.log, "a", encoding="utf-8")

    ThreadingHTTPServer.request_queue_size = 256  # many senders' connections at once
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
