"""What every loopback fixture does at start, so a test can always stop it."""
import os
import signal
import threading
import time


def detach_from_test():
    """Unblocks signals and exits once the test process that started us is gone.

    Swift's Foundation.Process passes on the spawning thread's signal mask, which blocks
    SIGTERM: unblock everything so the test's terminate() works. A test process that crashes
    never calls terminate(); re-parenting tells us, so no fixture outlives its test run.
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def serve_until_stopped(server, port_file):
    """Publishes `server`'s port in `port_file` (atomically, so a reader never sees half of
    it) and serves until SIGTERM or SIGINT, then closes the socket."""
    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    temporary = port_file + ".tmp"
    with open(temporary, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(temporary, port_file)
    server.serve_forever()
    server.server_close()
