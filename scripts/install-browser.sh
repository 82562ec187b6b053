#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests of `peakcnn serve` (tests/test_web_browser.py,
# driven by Playwright at /usr/bin/chromium: nothing downloads a browser). Idempotent.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    echo "chromium installed: $(chromium --version 2>/dev/null)"
else
    echo "chromium is missing (browser tests skipped): install it with sudo apt-get install chromium" >&2
fi
