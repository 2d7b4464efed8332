#!/usr/bin/python3
"""A user's endpoint for HTTP targets: verifies every delivery with the reference Standard
Webhooks package from PyPI and records it.

Usage: webhook_receiver.py --port-file FILE --log FILE --secret whsec_... [--secret ...]

Binds 127.0.0.1:0 and writes the port to FILE. Appends one JSON line per request to --log:
{"path", "headers" (lowercased), "body", "verified": [one bool per --secret, by
standardwebhooks.Webhook(secret).verify], "at"}. What it answers depends on the path:
  /ok             200 {"received": <the payload>}
  /text           200 text/plain "plain words"
  /empty          204
  /status/N       N with body "status N body"
  /retry-after/S  429 with Retry-After: S
  /fail-first/N   503 for the first N deliveries of one webhook-id, then 200 {"attempts": N+1}
  /redirect       302 to http://example.invalid/elsewhere
  /hang           never answers (until the client gives up)
  /big/BYTES      200 with BYTES bytes of "y"
  /close          closes the connection mid-answer (headers sent, body cut short)
Runs until SIGTERM; exits when the test process dies.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

from fixture_process import detach_from_test, serve_until_stopped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--secret", action="append", default=[])
    args = parser.parse_args()
    detach_from_test()
    verifiers = [Webhook(secret) for secret in args.secret]
    lock = threading.Lock()
    seen = {}
    log = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):
            pass

        def answer(self, status, body=b"", content_type="application/json", extra=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in extra:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = []
            for verifier in verifiers:
                try:
                    verifier.verify(body, headers)
                    verified.append(True)
                except Exception:
                    verified.append(False)
            with lock:
                key = (self.path, headers.get("webhook-id"))
                seen[key] = seen.get(key, 0) + 1
                count = seen[key]
                log.write(json.dumps({"path": self.path, "headers": headers, "body": body.decode("utf-8", "replace"),
                                      "verified": verified, "at": time.time()}) + "\n")
                log.flush()
            parts = self.path.strip("/").split("/")
            if parts[0] == "ok":
                payload = json.loads(body) if body else None
                return self.answer(200, json.dumps({"received": payload}).encode())
            if parts[0] == "text":
                return self.answer(200, b"plain words", "text/plain")
            if parts[0] == "empty":
                self.send_response(204)
                self.end_headers()
                return
            if parts[0] == "status":
                status = int(parts[1])
                return self.answer(status, b"status %d body" % status, "text/plain")
            if parts[0] == "retry-after":
                return self.answer(429, b"slow down", "text/plain", [("Retry-After", parts[1])])
            if parts[0] == "fail-first":
                if count <= int(parts[1]):
                    return self.answer(503, b"not yet", "text/plain")
                return self.answer(200, json.dumps({"attempts": count}).encode())
            if parts[0] == "redirect":
                return self.answer(302, b"", "text/plain", [("Location", "http://example.invalid/elsewhere")])
            if parts[0] == "hang":
                time.sleep(3600)
                return
            if parts[0] == "big":
                return self.answer(200, b"y" * int(parts[1]), "text/plain")
            if parts[0] == "close":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"partial": ')
                self.wfile.flush()
                self.close_connection = True
                return
            self.answer(404, b"no such test path", "text/plain")

    # socketserver's listen backlog of 5 drops connections that arrive together (a test
    # opens dozens at once); a dropped handshake stalls its client for up to half a minute.
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    serve_until_stopped(server, args.port_file)


if __name__ == "__main__":
    main()
