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
