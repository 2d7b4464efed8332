#!/usr/bin/env python3
"""Drives the dashboard in headless Chromium over the DevTools protocol.

Usage: dashboard_browser.py --url BASE --queue NAME --dead-id ID --screenshot FILE
The admin key comes from the environment (DASHBOARD_ADMIN_KEY), never from argv or a URL.

Loads BASE/dashboard, logs in through the form, waits for NAME's row, reads the counts the page
shows, clicks Retry on job ID in the dead list, waits until the page lists that job as waiting
(available), takes screenshots (FILE before the retry, FILE-after-retry.png after), and prints one JSON object:
{"counts": {...}, "retriedShownAs": "available", "cookie": {...}, "url": "...", "documentCookie": "..."}
Exits non-zero with a message on stderr when a step does not happen within its time.
Needs only the standard library and websocket-client.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import websocket


def chromium():
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        path = shutil.which(name) or (f"/usr/lib/chromium/{name}" if os.path.exists(f"/usr/lib/chromium/{name}") else None)
        if path:
            return path
    sys.exit("no chromium found: install chromium or chromium-headless-shell (scripts/bootstrap does)")


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def eval(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.1)
        # What the page itself said (a failed refresh or action) makes the failure readable.
        said = self.eval("(document.querySelector('#updated') || {}).textContent || ''")
        raise SystemExit(f"timed out waiting for {what}; the page said: {said!r}")


def save_screenshot(page, path):
    shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))


import contextlib


@contextlib.contextmanager
def browser_page():
    """Headless Chromium with a throwaway profile; yields its first page, killed on the way out."""
    profile = tempfile.mkdtemp(prefix="conveyor-chromium-")
    browser = subprocess.Popen(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1400,1500", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not (os.path.exists(port_file) and len(open(port_file).read().split("\n")) >= 2):
            if time.time() > deadline or browser.poll() is not None:
                raise SystemExit("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = open(port_file).read().split("\n")[0]
        import urllib.request
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page_target = next(t for t in targets if t.get("type") == "page")
        page = Page(page_target["webSocketDebuggerUrl"])
        page.send("Page.enable")
        page.send("Network.enable")
        yield page
    finally:
        try:
            os.killpg(browser.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


def log_in(page, url, key):
    """Loads the dashboard and signs in through its form, as a user would."""
    page.send("Page.navigate", url=url + "/dashboard")
    page.wait("!!document.querySelector('#login') && !document.querySelector('#login').hidden", "the login form")
    page.eval("document.querySelector('#key').focus()")
    page.send("Input.insertText", text=key)
    page.eval("document.querySelector('#login button[type=submit]').click()")
    page.wait("!document.querySelector('#app').hidden", "the signed-in page")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--dead-id", required=True)
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--schedule", help="ORG/NAME of a schedule whose row to read")
    args = parser.parse_args()
    key = os.environ["DASHBOARD_ADMIN_KEY"]

    with browser_page() as page:
        log_in(page, args.url, key)
        queue = json.dumps(args.queue)
        page.wait(f"!!document.querySelector('tr[data-queue=' + JSON.stringify({queue}) + ']')", "the queue's row")
        counts = page.eval(f"""(() => {{
            const row = document.querySelector('tr[data-queue=' + JSON.stringify({queue}) + ']');
            const out = {{}};
            row.querySelectorAll('[data-count]').forEach(td => out[td.dataset.count] = Number(td.textContent));
            return out; }})()""")
        schedule = None
        if args.schedule:
            name = json.dumps(args.schedule)
            page.wait(f"!!document.querySelector('#schedules tr[data-schedule=' + JSON.stringify({name}) + ']')", "the schedule's row")
            schedule = page.eval(f"""(() => {{
                const row = document.querySelector('#schedules tr[data-schedule=' + JSON.stringify({name}) + ']');
                return {{next: row.dataset.next, cells: [...row.querySelectorAll('td')].map(td => td.textContent.trim())}}; }})()""")
        dead = json.dumps(str(args.dead_id))
        page.wait(f"!!document.querySelector('#dead button[data-retry=' + JSON.stringify({dead}) + ']')", "the dead job's Retry button")
        # The artifact shows the dead job with its error history and its Retry button; a second
        # one, next to it, the page after the retry.
        save_screenshot(page, args.screenshot)
        page.eval(f"document.querySelector('#dead button[data-retry=' + JSON.stringify({dead}) + ']').click()")
        shown = page.wait(f"""(() => {{
            const row = document.querySelector('#waiting tr[data-job=' + JSON.stringify({dead}) + ']');
            return row ? row.dataset.state : null; }})()""", "the retried job in the waiting list")
        counts_after = page.eval(f"""(() => {{
            const row = document.querySelector('tr[data-queue=' + JSON.stringify({queue}) + ']');
            const out = {{}};
            row.querySelectorAll('[data-count]').forEach(td => out[td.dataset.count] = Number(td.textContent));
            return out; }})()""")
        cookies = page.send("Network.getCookies", urls=[args.url])["cookies"]
        session = next((c for c in cookies if c["name"] == "conveyor_session"), None)
        save_screenshot(page, args.screenshot.removesuffix(".png") + "-after-retry.png")
        print(json.dumps({
            "counts": counts,
            "countsAfterRetry": counts_after,
            "retriedShownAs": shown,
            "schedule": schedule,
            "cookie": {"httpOnly": session["httpOnly"], "sameSite": session.get("sameSite"), "holdsKey": key in session["value"]} if session else None,
            "url": page.eval("location.href"),
            "documentCookie": page.eval("document.cookie"),
            "pageHoldsKey": page.eval(f"document.documentElement.outerHTML.includes({json.dumps(key)})"),
        }))


if __name__ == "__main__":
    main()
