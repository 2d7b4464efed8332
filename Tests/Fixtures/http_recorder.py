#!/usr/bin/python3
"""A scripted HTTP server on loopback that records every request.

Usage: http_recorder.py --port-file FILE --log FILE [--port N]
                        [--respond PATH=STATUS:JSON ...] [--slow-seconds S] [--hold-first S]

Binds 127.0.0.1 (port 0 unless --port), writes the port to --port-file once it listens, and
appends one JSON line per request to --log: {"method", "path", "headers" (names lowercased),
"body", "at" (seconds since the epoch, as it arrived)}. A path named by --respond gets that status and JSON body; any other path gets
200 {}. Paths starting with /slow wait --slow-seconds (default 5) before answering, and with
--hold-first the very first request waits that long (a call busy with slow jobs).
Speaks HTTP/1.1 with keep-alive. Stops on SIGTERM or SIGINT.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fixture_process


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--respond", action="append", default=[])
    parser.add_argument("--slow-seconds", type=float, default=5.0)
    parser.add_argument("--hold-first", type=float, default=0.0)
    args = parser.parse_args()

    responses = {}
    for spec in args.respond:
        path, _, answer = spec.partition("=")
        status, _, body = answer.partition(":")
        responses[path] = (int(status), body or "{}")

    log_lock = threading.Lock()
    first = [True]
    log_file = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            record = {
                "at": time.time(),
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            with log_lock:
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
            with log_lock:
                hold = args.hold_first if first[0] else 0
                first[0] = False
            if hold:
                time.sleep(hold)
            if self.path.startswith("/slow"):
                time.sleep(args.slow_seconds)
            status, answer = responses.get(self.path.split("?")[0], (200, "{}"))
            data = answer.encode("utf-8")
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    fixture_process.serve_until_stopped(server, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
