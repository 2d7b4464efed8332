#!/usr/bin/env python3
"""A cross-site attack on the dashboard's session, in headless Chromium.

Usage: csrf_browser.py --url BASE --attacker-port PORT
The admin key comes from the environment (DASHBOARD_ADMIN_KEY), never from argv or a URL.

Signs in at BASE/dashboard through the form, then opens a page served from another port of the
same host (same-site, so the SameSite=Strict cookie goes along) that tries, with the operator's
cookie: a no-cors fetch POST to retry-dead with no body, a text/plain POST to purge-jobs, a
form POST to retry-dead, and a JSON POST (which needs a CORS preflight). Prints one JSON object:
{"attackFinished": true, "cookieSent": ..., "signedIn": true}
Whether anything changed is for the caller to check in the database and the host's log.
"""
import argparse
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_browser import browser_page, log_in  # noqa: E402

ATTACK = """<!doctype html><html><body><iframe name="sink"></iframe>
<form id="f" method="POST" action="{base}/v1/admin/jobs/retry-dead" enctype="text/plain" target="sink">
<input name='{{"limit":10,"x":"' value='"}}'></form>
<script>
(async () => {{
  const tries = [
    fetch("{base}/v1/admin/jobs/retry-dead", {{method: "POST", mode: "no-cors", credentials: "include"}}),
    fetch("{base}/v1/admin/jobs/purge", {{method: "POST", mode: "no-cors", credentials: "include",
          headers: {{"content-type": "text/plain"}}, body: JSON.stringify({{states: ["dead"], olderThanSeconds: 0}})}}),
    fetch("{base}/v1/admin/jobs/retry-dead", {{method: "POST", credentials: "include",
          headers: {{"content-type": "application/json"}}, body: "{{}}"}}),
  ];
  document.getElementById("f").submit();
  await Promise.allSettled(tries);
  await new Promise((r) => setTimeout(r, 1000));
  document.title = "attack finished";
}})();
</script></body></html>"""


def serve(port, base):
    page = ATTACK.format(base=base).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--attacker-port", type=int, required=True)
    args = parser.parse_args()
    key = os.environ["DASHBOARD_ADMIN_KEY"]
    server = serve(args.attacker_port, args.url)
    try:
        with browser_page() as page:
            log_in(page, args.url, key)
            cookies = page.send("Network.getCookies", urls=[args.url])["cookies"]
            signed_in = any(c["name"] == "conveyor_session" for c in cookies)
            page.send("Page.navigate", url=f"http://127.0.0.1:{args.attacker_port}/attack.html")
            page.wait("document.title === 'attack finished'", "the attack page to finish")
            print(json.dumps({"attackFinished": True, "signedIn": signed_in,
                              "attackerOrigin": page.eval("location.origin")}))
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
