"""Headless Debian Chromium for browser tests and page screenshots (Playwright drives it; nothing is downloaded).

The flags keep Chromium off the network (this machine has none) and off the GPU.
"""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright, **kwargs):
    """Launch CHROMIUM through Playwright from a process at normal scheduling priority.

    Writing a LeRobot video raises the calling thread to SCHED_FIFO 99 when running as root (runtime.priority
    says why), and a browser started from that thread inherits it: its renderer threads then compete with the
    test at real-time priority and the launch can time out on a 2-core machine (seen in the full suite)."""
    from runtime.priority import demote_realtime_threads

    demote_realtime_threads()
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **kwargs)
