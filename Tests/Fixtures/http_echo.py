#!/usr/bin/python3
"""HTTP/1.1 echo server for the Curl tests (127.0.0.1 only, keep-alive).

Usage: http_echo.py --port-file FILE [--tls-cert CERT --tls-key KEY]

Binds 127.0.0.1:0 and writes the port to FILE (atomically). Any request is answered with JSON
{"method", "path", "headers" (lowercased names), "body" (UTF-8, lossy), "body_base64" (exact)}.
Special paths:
  /status/NNN     answers with status NNN
  /sleep/MS       sleeps MS milliseconds, then answers
  /big/BYTES      answers BYTES bytes of "x" (with Content-Length; ?chunked=1 for chunked)
  /close          closes the connection without answering
  /connections    {"connections": N}: TCP connections accepted so far (keep-alive proof)
  /barrier/N      waits until N requests wait at once (a proof of concurrency that needs no
                  clock), then answers; 504 if they do not arrive within 60 s
Runs until killed; exits cleanly on SIGTERM, and on its own when its parent (the test
process) dies, so a crashed test run leaves no server behind.
"""
import argparse
import base64
import json
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fixture_process import detach_from_test

connections = 0
connections_lock = threading.Lock()
barrier_lock = threading.Lock()
barriers = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "http_echo"

    def setup(self):
        global connections
        with connections_lock:
            connections += 1
        super().setup()

    def log_message(self, format, *args):
        pass  # quiet: tests read stderr only when something breaks

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout, size limit)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, payload, content_type="application/json", chunked=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Echo-Method", self.command)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if chunked:
            step = 16384
            for start in range(0, len(payload), step):
                piece = payload[start:start + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(payload)

    def dispatch(self):
        body = self.read_body()
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        if parts[0] == "close":
            self.close_connection = True
            return
        if parts[0] == "connections":
            with connections_lock:
                count = connections
            return self.answer(200, json.dumps({"connections": count}).encode())
        if parts[0] == "big" and len(parts) == 2:
            return self.answer(200, b"x" * int(parts[1]), "application/octet-stream",
                               chunked="chunked=1" in query)
        status = 200
        if parts[0] == "barrier" and len(parts) == 2:
            parties = int(parts[1])
            with barrier_lock:
                barrier = barriers.setdefault(parties, threading.Barrier(parties, timeout=60))
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                status = 504
        if parts[0] == "status" and len(parts) == 2:
            status = int(parts[1])
        if parts[0] == "sleep" and len(parts) == 2:
            time.sleep(int(parts[1]) / 1000)
        echo = {
            "method": self.command,
            "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": body.decode("utf-8", errors="replace"),
            "body_base64": base64.b64encode(body).decode("ascii"),
        }
        self.answer(status, json.dumps(echo).encode())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = dispatch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    detach_from_test()

    # socketserver's listen backlog of 5 drops connections that arrive together (a test
    # opens dozens at once); a dropped handshake stalls its client for up to half a minute.
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)

    def stop(signum, frame):
        # shutdown() waits for serve_forever, which runs in this very thread: exit directly.
        server.server_close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    temporary = args.port_file + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(str(server.server_address[1]))
    os.replace(temporary, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
