#!/usr/bin/env python3
"""registry-fixture.py - a stand-in for Confluent Schema Registry's REST API
(the read side a consumer uses), with basic auth, a request log and faults on
demand, for the C tests and the end-to-end specs.

Usage:
  registry-fixture.py --schemas PATH [--user KEY:SECRET] [--log FILE]
                      [--port N] [--fail N] [--fail-status S]
                      [--fail-code C] [--delay-ms MS] [--tls CERT KEY]

It binds 127.0.0.1 (port 0 unless --port: the system picks one), prints the
port alone on the first line of stdout, flushes, and serves until killed.

--tls CERT KEY serves HTTPS instead of HTTP, control endpoints included:
CERT is the server's certificate in PEM (followed by any intermediates), KEY
its private key in PEM, unencrypted. The handshake happens in the
connection's own thread, so a client that never finishes it holds up no
other. A client that fails it (one that does not trust the certificate, or
speaks plain HTTP to the port) is disconnected without an answer and leaves
no line in the request log.

PATH is either
  - a directory of files named {id}.json, or
  - one JSON file: an object {"{id}": record, ...} or an array of records
    that each carry "id".
A record is
  {"subject": "orders-value", "version": 1, "schemaType": "JSON",
   "schema": "...", "references": [{"name": "...", "subject": "...",
                                    "version": 1}]}
"schemaType" may be absent (AVRO, and then answers omit it, as Confluent's
do); "schema" is the schema text, or any other JSON value, which is served as
its compact JSON text; "references" may be absent. A record without
"subject" is reachable by id only.

Registry endpoints (answers and error bodies as Confluent's):
  GET /schemas/ids/{id}                  {"schema", "schemaType"?, "references"?}
  GET /schemas/ids/{id}/schema           the schema text
  GET /subjects                          ["subject", ...]
  GET /subjects/{subject}/versions       [1, 2, ...]
  GET /subjects/{subject}/versions/{v}   {"subject", "version", "id",
                                          "schemaType"?, "schema", "references"?}
    {v} is a number, "latest" or -1; {subject} is percent-decoded.
  Errors: 404 {"error_code": 40403, "message": "Schema 99 not found"},
          404 40401 "Subject 'x' not found.", 404 40402 "Version 9 not found.",
          422 42202 (version neither a number nor "latest"),
          401 {"error_code": 401, "message": "Unauthorized"} (--user given and
          the request's basic credentials differ),
          404 {"error_code": 404, "message": "HTTP 404 Not Found"} otherwise.

Control endpoints (no auth, never logged, GET or POST, parameters in the
query string):
  /_fixture/fail?count=N&status=500&error_code=50001
      the next N registry requests answer status with
      {"error_code": error_code, "message": "..."}; count=-1: every request.
  /_fixture/delay?ms=MS&count=N
      the next N registry requests (count=-1 or absent: every one) wait MS
      before answering.
  /_fixture/big?bytes=N&count=1
      the next count registry requests answer 200 with a schema of N bytes
      (an answer too big for a client to accept).
  /_fixture/reset        no more faults, delays or big answers.
  /_fixture/schemas      POST a body in the format of the schemas file (an
      object by id or an array of records with "id"): adds or replaces those
      schemas, e.g. to register a new version behind a cached "latest".
  /_fixture/log          the request log so far, as text.
The --fail, --fail-status, --fail-code and --delay-ms flags set the same
faults from the start (--fail N: the first N requests; --delay-ms: every
request).

Request log (--log FILE and /_fixture/log): one line per registry request as
it arrives, before it is answered, "GET /schemas/ids/1", with the path exactly
as the client sent it (percent-encoding kept), flushed at once.
"""

import argparse
import base64
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

# What Confluent's registry says with these codes.
FAULT_MESSAGES = {
    50001: "Error in the backend data store",
    50002: "Operation timed out",
    50003: "Error while forwarding the request to the leader",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Rate limit exceeded",
}


class State:
    """Schemas, faults and the log, shared by the server's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.schemas = {}  # id -> record
        self.user = None  # "key:secret" or None
        self.log_file = None
        self.log_lines = []
        self.fail_count = 0
        self.fail_status = 500
        self.fail_code = 50001
        self.delay_ms = 0
        self.delay_count = 0
        self.big_bytes = 0
        self.big_count = 0

    def add(self, data):
        """Adds records in the schemas file format; raises ValueError."""
        if isinstance(data, dict):
            items = [(int(k), v) for k, v in data.items()]
        elif isinstance(data, list):
            items = [(int(v["id"]), v) for v in data]
        else:
            raise ValueError("schemas: want an object by id or an array of records")
        with self.lock:
            for sid, rec in items:
                if not isinstance(rec, dict) or "schema" not in rec:
                    raise ValueError("schema %d: want an object with \"schema\"" % sid)
                self.schemas[sid] = rec

    def log(self, line):
        with self.lock:
            self.log_lines.append(line)
            if self.log_file:
                self.log_file.write(line + "\n")
                self.log_file.flush()

    def fault(self):
        """The fault (status, error_code), delay in ms and size of a big
        answer (0: none) for the request arriving now, counting it against
        each budget."""
        with self.lock:
            big = 0
            if self.big_count:
                big = self.big_bytes
                if self.big_count > 0:
                    self.big_count -= 1
            fail = None
            if self.fail_count:
                fail = (self.fail_status, self.fail_code)
                if self.fail_count > 0:
                    self.fail_count -= 1
            delay = 0
            if self.delay_count:
                delay = self.delay_ms
                if self.delay_count > 0:
                    self.delay_count -= 1
            return fail, delay, big


STATE = State()


def schema_text(rec):
    s = rec["schema"]
    return s if isinstance(s, str) else json.dumps(s, separators=(",", ":"))


def schema_type(rec):
    t = rec.get("schemaType")
    return t if t and t != "AVRO" else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real registry
    server_version = "registry-fixture"

    def log_message(self, *args):
        pass

    def handle(self):
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                # The client refused the certificate or does not speak
                # TLS: there is nobody to answer.
                self.close_connection = True
                return
        super().handle()

    def send(self, status, body, content_type=CONTENT_TYPE):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body, separators=(",", ":"))
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # A client that timed out has gone; nothing to tell it.
            self.close_connection = True

    def error(self, status, code, message):
        self.send(status, {"error_code": code, "message": message})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    # ---- control -----------------------------------------------------

    def control(self, path, query):
        def num(name, default):
            v = query.get(name)
            return int(v[0]) if v else default

        try:
            if path == "/_fixture/fail":
                with STATE.lock:
                    STATE.fail_count = num("count", 1)
                    STATE.fail_status = num("status", 500)
                    STATE.fail_code = num("error_code", 50001)
            elif path == "/_fixture/delay":
                with STATE.lock:
                    STATE.delay_ms = num("ms", 0)
                    STATE.delay_count = num("count", -1)
            elif path == "/_fixture/big":
                with STATE.lock:
                    STATE.big_bytes = num("bytes", 0)
                    STATE.big_count = num("count", 1)
            elif path == "/_fixture/reset":
                with STATE.lock:
                    STATE.fail_count = 0
                    STATE.delay_count = 0
                    STATE.big_count = 0
            elif path == "/_fixture/schemas":
                STATE.add(json.loads(self.body() or b"null"))
            elif path == "/_fixture/log":
                with STATE.lock:
                    text = "".join(l + "\n" for l in STATE.log_lines)
                self.send(200, text, "text/plain")
                return
            else:
                self.send(404, "no such control endpoint\n", "text/plain")
                return
        except (ValueError, KeyError, TypeError) as e:
            self.send(400, "%s\n" % e, "text/plain")
            return
        self.send(200, "ok\n", "text/plain")

    # ---- registry ----------------------------------------------------

    def authorized(self):
        if STATE.user is None:
            return True
        want = "Basic " + base64.b64encode(STATE.user.encode("utf-8")).decode("ascii")
        return self.headers.get("Authorization") == want

    def handle_any(self):
        url = urlsplit(self.path)
        if url.path.startswith("/_fixture/"):
            self.control(url.path, parse_qs(url.query))
            return
        self.body()
        STATE.log("%s %s" % (self.command, self.path))
        fail, delay, big = STATE.fault()
        if delay:
            time.sleep(delay / 1000.0)
        if not self.authorized():
            self.error(401, 401, "Unauthorized")
        elif fail:
            self.error(fail[0], fail[1], FAULT_MESSAGES.get(fail[1], "Injected failure"))
        elif big:
            self.send(200, {"schema": "x" * big})
        elif self.command != "GET":
            self.error(405, 405, "HTTP 405 Method Not Allowed")
        else:
            self.route([unquote(p) for p in url.path.split("/")[1:]])

    def route(self, parts):
        if len(parts) >= 3 and parts[:2] == ["schemas", "ids"]:
            self.by_id(parts[2], parts[3:])
        elif parts == ["subjects"]:
            with STATE.lock:
                subjects = sorted({r["subject"] for r in STATE.schemas.values() if "subject" in r})
            self.send(200, subjects)
        elif len(parts) in (3, 4) and parts[0] == "subjects" and parts[2] == "versions":
            self.by_subject(parts[1], parts[3] if len(parts) == 4 else None)
        else:
            self.error(404, 404, "HTTP 404 Not Found")

    def by_id(self, sid, rest):
        try:
            n = int(sid)
        except ValueError:
            self.error(404, 404, "HTTP 404 Not Found")
            return
        with STATE.lock:
            rec = STATE.schemas.get(n)
        if rec is None:
            self.error(404, 40403, "Schema %d not found" % n)
        elif rest == ["schema"]:
            self.send(200, schema_text(rec), "text/plain")
        elif rest:
            self.error(404, 404, "HTTP 404 Not Found")
        else:
            out = {"schema": schema_text(rec)}
            if schema_type(rec):
                out["schemaType"] = schema_type(rec)
            if rec.get("references"):
                out["references"] = rec["references"]
            self.send(200, out)

    def by_subject(self, subject, version):
        with STATE.lock:
            recs = {int(r.get("version", 1)): (sid, r) for sid, r in STATE.schemas.items()
                    if r.get("subject") == subject}
        if not recs:
            self.error(404, 40401, "Subject '%s' not found." % subject)
            return
        if version is None:
            self.send(200, sorted(recs))
            return
        if version in ("latest", "-1"):
            v = max(recs)
        else:
            try:
                v = int(version)
                if v < 1 or v > 2**31 - 1:
                    raise ValueError
            except ValueError:
                self.error(422, 42202, "The specified version '%s' is not a valid version id. "
                           "Allowed values are between [1, 2^31-1] and the string \"latest\""
                           % version)
                return
        if v not in recs:
            self.error(404, 40402, "Version %d not found." % v)
            return
        sid, rec = recs[v]
        out = {"subject": subject, "version": v, "id": sid}
        if schema_type(rec):
            out["schemaType"] = schema_type(rec)
        out["schema"] = schema_text(rec)
        if rec.get("references"):
            out["references"] = rec["references"]
        self.send(200, out)


def load(path):
    if os.path.isdir(path):
        data = {}
        for name in sorted(os.listdir(path)):
            stem, ext = os.path.splitext(name)
            if ext == ".json" and stem.isdigit():
                with open(os.path.join(path, name), encoding="utf-8") as f:
                    data[stem] = json.load(f)
        return data
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    p = argparse.ArgumentParser(description="A Confluent Schema Registry stand-in for tests.")
    p.add_argument("--schemas", help="directory of {id}.json files, or one JSON file")
    p.add_argument("--user", help="KEY:SECRET that basic auth must carry")
    p.add_argument("--log", help="file to append one line per request to")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--fail", type=int, default=0, help="answer the first N requests with an error")
    p.add_argument("--fail-status", type=int, default=500)
    p.add_argument("--fail-code", type=int, default=50001)
    p.add_argument("--delay-ms", type=int, default=0, help="wait before every answer")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                   help="serve HTTPS with this certificate and key (PEM files)")
    args = p.parse_args()

    try:
        if args.schemas:
            STATE.add(load(args.schemas))
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit("registry-fixture: %s: %s" % (args.schemas, e))
    STATE.user = args.user
    STATE.fail_count = args.fail
    STATE.fail_status = args.fail_status
    STATE.fail_code = args.fail_code
    if args.delay_ms:
        STATE.delay_ms = args.delay_ms
        STATE.delay_count = -1
    if args.log:
        STATE.log_file = open(args.log, "a", encoding="utf-8")

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(args.tls[0], args.tls[1])
        except (OSError, ssl.SSLError) as e:
            sys.exit("registry-fixture: --tls %s %s: %s" % (args.tls[0], args.tls[1], e))
        # Handshakes are left to the handlers' threads (see handle), not
        # done in accept, which runs in the one thread that serves them all.
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
