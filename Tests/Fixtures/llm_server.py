#!/usr/bin/python3
"""A scripted OpenAI-compatible chat-completions server on loopback.

Usage: llm_server.py --port-file FILE --script FILE --log FILE

Binds 127.0.0.1 on a free port and writes the port to --port-file once it listens. Every
request consumes the next step of --script, a JSON array the server re-reads on each request
(so a test may append steps between calls). A step is an object:

  {"content": "..." | {...}}   a 200 chat completion whose assistant content is that text
                                (an object is sent as its JSON text)
  "model", "usage"              override the completion's model (default: the request's) and
                                usage (default: prompt 100, completion 20 tokens)
  "status": N                   the HTTP status (default 200)
  "headers": {"Name": "value"}  extra response headers, e.g. Retry-After
  "body": <any JSON>            send this JSON as the body instead of a completion
  "rawBody": "text"             send this text as the body instead of a completion
  "delaySeconds": S             sleep before answering (a hang, when longer than the client's timeout)

With no step left it answers 500 {"error": {"message": "llm_server: script exhausted"}}.
Each request is appended to --log as one JSON line: {"method", "path", "headers" (names
lowercased), "body" (parsed JSON, or the raw text when it is not JSON)}. Stops on SIGTERM.
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
    parser.add_argument("--script", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    fixture_process.detach_from_test()

    lock = threading.Lock()
    state = {"next": 0, "served": 0}
    log_file = open(args.log, "a", encoding="utf-8")

    def next_step():
        with lock:
            try:
                with open(args.script, encoding="utf-8") as f:
                    steps = json.load(f)
            except (OSError, ValueError):
                steps = []
            index = state["next"]
            state["next"] += 1
            return steps[index] if index < len(steps) else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            text = raw.decode("utf-8", "replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            with lock:
                log_file.write(json.dumps({
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }) + "\n")
                log_file.flush()

            step = next_step()
            if step is None:
                step = {"status": 500, "body": {"error": {"message": "llm_server: script exhausted"}}}
            if step.get("delaySeconds"):
                time.sleep(float(step["delaySeconds"]))
            status = int(step.get("status", 200))
            if "rawBody" in step:
                data = step["rawBody"].encode("utf-8")
            elif "body" in step:
                data = json.dumps(step["body"]).encode("utf-8")
            else:
                content = step.get("content", "")
                if not isinstance(content, str):
                    content = json.dumps(content)
                model = step.get("model") or (body.get("model") if isinstance(body, dict) else None) or "scripted"
                usage = step.get("usage", {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120})
                data = json.dumps({
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": usage,
                }).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for name, value in step.get("headers", {}).items():
                    self.send_header(name, str(value))
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (its timeout): nothing left to answer.
                self.close_connection = True

        do_GET = do_POST = handle_any

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True

    fixture_process.serve_until_stopped(server, args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
