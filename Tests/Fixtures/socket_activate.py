#!/usr/bin/env python3
"""Starts a program the way systemd starts a socket-activated service, for tests.

Usage: socket_activate.py --listen PATH [--listen PATH ...] --names a:b -- PROGRAM ARGS...
Binds each unix socket (mode 0666, so nginx's workers may connect), puts them at descriptors
3, 4, ... and execs PROGRAM in this same process with LISTEN_FDS, LISTEN_PID (this pid, which
exec keeps) and LISTEN_FDNAMES set, as sd_listen_fds(3) describes. Unlike systemd-socket-activate
it starts the program at once, not on the first connection, and keeps the whole environment.
"""
import argparse
import os
import socket
import sys


def main():
    if "--" not in sys.argv:
        sys.exit("usage: socket_activate.py --listen PATH ... --names a:b -- PROGRAM ARGS...")
    split = sys.argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", action="append", required=True)
    parser.add_argument("--names", default="")
    args = parser.parse_args(sys.argv[1:split])
    program = sys.argv[split + 1:]
    sockets = []
    for path in args.listen:
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        os.chmod(path, 0o666)
        s.listen(511)
        sockets.append(s)
    # Move them to 3, 4, ... without closing one another on the way.
    fds = [os.dup(s.fileno()) for s in sockets]
    for i, fd in enumerate(fds):
        os.dup2(fd, 3 + i, inheritable=True)
    os.environ["LISTEN_FDS"] = str(len(fds))
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDNAMES"] = args.names
    os.execv(program[0], program)


if __name__ == "__main__":
    main()
