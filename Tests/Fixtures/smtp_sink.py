#!/usr/bin/python3
"""Scripted SMTP sink for the Curl tests (aiosmtpd, 127.0.0.1 only).

Usage: smtp_sink.py --port-file FILE --maildir DIR [--auth USER:PASS] [--auth-mechanism MECH]
                   [--tls-cert CERT --tls-key KEY --tls starttls|implicit]

Binds 127.0.0.1:0 and writes the port to FILE (atomically). Each accepted message is stored as
DIR/<n>.eml (the bytes received, dot-unstuffed) plus DIR/<n>.json with
{mail_from, rcpt_tos, peer, helo, tls, tls_version, auth_mechanism, auth_user}: tls says
whether the session that carried the message was encrypted. Behaviour by recipient local part:
  reject550-...@...   RCPT answered "550 5.1.1 no such user"
  defer451-...@...    RCPT answered "451 4.3.0 try later"
  datafail@...        DATA answered "554 5.6.0 rejected"
With --auth, AUTH PLAIN/LOGIN with those credentials is required (without TLS: loopback only);
--auth-mechanism offers only that one. With --tls starttls, the sink offers STARTTLS and
refuses everything else (AUTH included) until the client has used it; with --tls implicit,
it speaks TLS from the first byte (smtps).
Runs until killed; exits cleanly on SIGTERM, and on its own when its parent (the test
process) dies, so a crashed test run leaves no server behind.
"""
import argparse
import asyncio
import itertools
import json
import logging
import os
import signal
import ssl
import threading
import time
import warnings

from aiosmtpd.controller import UnthreadedController
from aiosmtpd.smtp import AuthResult, LoginPassword

from fixture_process import detach_from_test


def write_atomically(path, data):
    temporary = path + ".tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


class Sink:
    def __init__(self, maildir):
        self.maildir = maildir
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("reject550-"):
            return "550 5.1.1 no such user"
        if local.startswith("defer451-"):
            return "451 4.3.0 try later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(rcpt.split("@")[0].lower() == "datafail" for rcpt in envelope.rcpt_tos):
            return "554 5.6.0 rejected"
        # The transport in use now: after STARTTLS it is the TLS one, with smtps it always was.
        ssl_object = server.transport.get_extra_info("ssl_object")
        number = next(self.numbers)
        base = os.path.join(self.maildir, str(number))
        write_atomically(base + ".eml", envelope.original_content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "peer": list(session.peer),
            "helo": session.host_name,
            "tls": ssl_object is not None,
            "tls_version": ssl_object.version() if ssl_object is not None else None,
            "auth_mechanism": getattr(session, "auth_mechanism", None),
            "auth_user": getattr(session, "auth_user", None),
        }
        write_atomically(base + ".json", json.dumps(meta).encode())
        return f"250 OK queued as {number}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--auth", help="USER:PASS required via AUTH")
    parser.add_argument("--auth-mechanism", choices=["PLAIN", "LOGIN"], help="the only one offered")
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    detach_from_test()
    # aiosmtpd warns (rightly) about AUTH without TLS; this sink is loopback-only.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    os.makedirs(args.maildir, exist_ok=True)

    options = {}
    if args.auth:
        user, _, password = args.auth.partition(":")
        expected = LoginPassword(user.encode(), password.encode())

        def authenticator(server, session, envelope, mechanism, auth_data):
            success = auth_data == expected
            if success:
                session.auth_mechanism = mechanism
                session.auth_user = auth_data.login.decode()
            # handled=False: aiosmtpd then sends the 535 itself (True would send nothing).
            return AuthResult(success=success, handled=False)

        # With STARTTLS, AUTH is offered only once the session is encrypted. aiosmtpd cannot
        # tell that an implicit-TLS session is encrypted, so there it must not insist.
        options = dict(authenticator=authenticator, auth_required=True,
                       auth_require_tls=args.tls == "starttls")
        if args.auth_mechanism:
            options["auth_exclude_mechanism"] = [m for m in ("PLAIN", "LOGIN") if m != args.auth_mechanism]
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            options.update(ssl_context=context)

    loop = asyncio.new_event_loop()
    controller = UnthreadedController(
        Sink(args.maildir), hostname="127.0.0.1", port=0, loop=loop,
        server_hostname="sink.test", **options)
    controller.begin()
    port = controller.server.sockets[0].getsockname()[1]
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    write_atomically(args.port_file, str(port).encode())
    loop.run_forever()
    controller.end()
    loop.close()


if __name__ == "__main__":
    main()
