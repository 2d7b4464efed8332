#!/usr/bin/python3
"""Scripted SMTP server for the Mail and send-email tests (aiosmtpd, 127.0.0.1 only).

Usage: smtp_scripted.py --port-file FILE --maildir DIR

Binds 127.0.0.1:0 and writes the port to FILE (atomically). Each accepted message is stored as
DIR/<n>.eml (the bytes received, dot-unstuffed), DIR/<n>.json with {mail_from, rcpt_tos, helo},
and DIR/<n>.summary.json: the message as Python's email package parses it (decoded headers,
addresses, the MIME tree with each leaf's decoded bytes in base64 and text parts as text,
and every defect the parser found). Every RCPT TO is appended to DIR/rcpt.log as it arrives.

Behaviour by recipient local part (what smtp_sink.py cannot script):
  defer451once-...   the first RCPT for that address gets "451 4.3.0 try later", later ones 250
  defer451-...       RCPT always answered "451 4.3.0 try later"
  reject550-...      RCPT answered "550 5.1.1 no such user"
  hang-...           RCPT never answered (the client's timeout must fire)
  data550-...        DATA answered "550 5.7.1 message refused"
Runs until killed; exits at once on SIGTERM, and on its own when its parent (the test process)
dies, so a crashed test run leaves no server behind.
"""
import argparse
import asyncio
import base64
import email
import email.policy
import itertools
import json
import logging
import os
import signal
import warnings

from aiosmtpd.controller import UnthreadedController

from fixture_process import detach_from_test


def write_atomically(path, data):
    temporary = path + ".tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def addresses(header):
    if header is None:
        return None
    return [{"name": a.display_name, "address": a.addr_spec} for a in header.addresses]


def summarize_part(part):
    summary = {
        "content_type": part.get_content_type(),
        "params": {k: v for k, v in part.get_params(header="content-type") or []}
        if part.get("content-type") else {},
        "disposition": part.get_content_disposition(),
        "filename": part.get_filename(),
        "cte": part.get("content-transfer-encoding"),
        "charset": part.get_content_charset(),
        "defects": [type(d).__name__ for d in part.defects],
    }
    summary["params"].pop(part.get_content_type(), None)
    if part.is_multipart():
        summary["parts"] = [summarize_part(p) for p in part.iter_parts()]
    else:
        payload = part.get_payload(decode=True) or b""
        summary["payload_base64"] = base64.b64encode(payload).decode()
        if part.get_content_maintype() == "text":
            summary["text"] = part.get_content()
    return summary


def summarize(raw):
    message = email.message_from_bytes(raw, policy=email.policy.default)
    headers = [[name, str(value)] for name, value in message.items()]
    header_defects = []
    for name, value in message.items():
        header_defects += [f"{name}: {type(d).__name__}" for d in getattr(value, "defects", [])]
    return {
        "headers": headers,
        "header_defects": header_defects,
        "from": addresses(message["from"]),
        "to": addresses(message["to"]),
        "cc": addresses(message["cc"]),
        "reply_to": addresses(message["reply-to"]),
        "subject": message["subject"],
        "tree": summarize_part(message),
    }


class Scripted:
    def __init__(self, maildir):
        self.maildir = maildir
        self.numbers = itertools.count(1)
        self.deferred_once = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with open(os.path.join(self.maildir, "rcpt.log"), "a") as log:
            log.write(address + "\n")
        local = address.split("@")[0].lower()
        if local.startswith("hang-"):
            await asyncio.sleep(3600)
        if local.startswith("reject550-"):
            return "550 5.1.1 no such user"
        if local.startswith("defer451-"):
            return "451 4.3.0 try later"
        if local.startswith("defer451once-") and address not in self.deferred_once:
            self.deferred_once.add(address)
            return "451 4.3.0 try later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(r.split("@")[0].lower().startswith("data550-") for r in envelope.rcpt_tos):
            return "550 5.7.1 message refused"
        number = next(self.numbers)
        base = os.path.join(self.maildir, str(number))
        raw = envelope.original_content
        write_atomically(base + ".eml", raw)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "helo": session.host_name}
        write_atomically(base + ".summary.json", json.dumps(summarize(raw)).encode())
        # Written last: a test that sees <n>.json sees the whole message.
        write_atomically(base + ".json", json.dumps(meta).encode())
        return f"250 OK queued as {number}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--maildir", required=True)
    args = parser.parse_args()
    detach_from_test()
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    os.makedirs(args.maildir, exist_ok=True)

    loop = asyncio.new_event_loop()
    # data_size_limit: attachments of 10 MiB arrive base64'd as about 14 MiB.
    controller = UnthreadedController(
        Scripted(args.maildir), hostname="127.0.0.1", port=0, loop=loop,
        server_hostname="scripted.test", data_size_limit=64 * 1024 * 1024)
    controller.begin()
    port = controller.server.sockets[0].getsockname()[1]
    # A session may be parked in a hang: leave without waiting for it.
    loop.add_signal_handler(signal.SIGTERM, lambda: os._exit(0))
    write_atomically(args.port_file, str(port).encode())
    loop.run_forever()


if __name__ == "__main__":
    main()
