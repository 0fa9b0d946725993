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
