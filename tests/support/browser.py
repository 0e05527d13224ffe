"""A real headless Chromium (Debian's ``chromium``, fresh profile, background traffic off) driven over the DevTools
protocol, and what a reviewer's browser would run into on a page: requests past this machine (a report must work
offline), console errors and uncaught exceptions, images that do not load or lack alt text; and a screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--remote-debugging-port=0", "--remote-allow-origins=*",
]  # fmt: skip
LOCAL_SCHEMES = {"file", "data", "blob", "about", "chrome", "devtools"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
#: Tallest screenshot taken, in CSS pixels: enough to read a report, small enough to look at.
MAX_SCREENSHOT_HEIGHT = 12000
_IMAGES_JS = """
Array.from(document.images).map(img => ({
  src: img.currentSrc.slice(0, 60), alt: (img.getAttribute('alt') || '').trim(),
  loaded: img.complete && img.naturalWidth > 0
}))
"""


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or stopped answering; the message says what to do."""


def find_chromium() -> str:
    """The Chromium executable on PATH (``CHROMIUM`` overrides it); a BrowserError with the install command when
    there is none."""
    override = os.environ.get("CHROMIUM")
    for name in ([override] if override else []) + list(CHROMIUM_NAMES):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError("no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES) + "); install Debian's: "
                       "`apt-get update && apt-get install -y chromium`, or set CHROMIUM to its path")


def external_request(url: str) -> bool:
    """Whether loading ``url`` reaches past this machine."""
    parsed = urlparse(url)
    if parsed.scheme in LOCAL_SCHEMES:
        return False
    return (parsed.hostname or "") not in LOCAL_HOSTS


class Chromium:
    """A headless Chromium process and one DevTools connection to it (use as a context manager)."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0):
        self.executable = executable or find_chromium()
        self.timeout = timeout
        self.profile = Path(tempfile.mkdtemp(prefix="callinsights-chromium-"))
        self.process: subprocess.Popen | None = None
        self.ws: Any = None
        self._next_id = 0
        self.events: list[dict] = []

    def __enter__(self) -> "Chromium":
        import websocket

        self.process = subprocess.Popen(
            [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not port_file.is_file() or len(port_file.read_text().split()) < 2:
            if self.process.poll() is not None or time.monotonic() > deadline:
                err = self.process.stderr.read().decode(errors="replace")[-800:] if self.process.stderr else ""
                self.__exit__(None, None, None)
                raise BrowserError(f"{self.executable} did not open its DevTools port within {self.timeout:.0f} s:"
                                   f" {err or 'no message'}")
            time.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=self.timeout,
                                              suppress_origin=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one DevTools command and return its result; events received meanwhile are kept in ``events``."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"DevTools {method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise BrowserError(f"DevTools {method}: no answer within {self.timeout:.0f} s")

    def wait_for(self, method: str, session: str, seconds: float) -> bool:
        """Read events until ``method`` arrives for ``session`` (True) or ``seconds`` pass (False)."""
        from websocket import WebSocketTimeoutException

        if any(e.get("method") == method and e.get("sessionId") == session for e in self.events):
            return True
        deadline = time.monotonic() + seconds
        self.ws.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    event = json.loads(self.ws.recv())
                except WebSocketTimeoutException:  # nothing for a moment: keep listening until the deadline
                    continue
                self.events.append(event)
                if event.get("method") == method and event.get("sessionId") == session:
                    return True
            return False
        finally:
            self.ws.settimeout(self.timeout)

    def settle(self, seconds: float) -> None:
        """Collect events for ``seconds`` more (late requests, errors raised after load)."""
        self.wait_for("__never__", "", seconds)


def _problems(events: list[dict], session: str) -> list[str]:
    found = []
    for event in (e for e in events if e.get("sessionId") == session):
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent" and external_request(params["request"]["url"]):
            found.append(f"request to another host: {params['request']['url'][:200]}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            found.append(f"console error: {text[:300]}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            found.append(f"uncaught exception: {text[:300]}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            found.append(f"console error ({entry.get('source')}): {entry.get('text', '')[:300]} "
                         f"{entry.get('url', '')[:150]}".rstrip())
    return list(dict.fromkeys(found))


def check_page(browser: Chromium, page: Path, screenshot: Path | None = None, width: int = 1280) -> list[str]:
    """Open one page in a fresh tab: one sentence per problem (empty when fine), and a PNG of the whole page at
    ``screenshot`` unless None."""
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        for domain in ("Page", "Network", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
        nav = browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session)
        problems = [f"navigation failed: {nav['errorText']}"] if nav.get("errorText") else []
        if not browser.wait_for("Page.loadEventFired", session, browser.timeout):
            problems.append(f"the page did not finish loading within {browser.timeout:.0f} s")
        browser.settle(0.5)
        images = browser.call("Runtime.evaluate", {"expression": _IMAGES_JS, "returnByValue": True},
                              session)["result"].get("value", [])
        for i, img in enumerate(images, start=1):
            if not img["loaded"]:
                problems.append(f"image {i} does not load: {img['src']}")
            if not img["alt"]:
                problems.append(f"image {i} has no alt text: {img['src']}")
        problems += _problems(browser.events, session)
        if screenshot is not None:
            size = browser.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            height = min(int(size["height"]), MAX_SCREENSHOT_HEIGHT)
            shot = browser.call("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": max(height, 1), "scale": 1},
            }, session)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        return problems
    finally:
        browser.call("Target.closeTarget", {"targetId": target})
        browser.events = [e for e in browser.events if e.get("sessionId") != session]
