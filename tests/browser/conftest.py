"""Headless Chromium (Debian's ``chromium``) driven by Playwright; never a downloaded browser.

Without Chromium the browser tests are skipped with the reason, except under
HEYSH_REQUIRE_SERVICES=1 (CI), where a missing browser fails them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def admin_login(page, base: str, username: str, password: str = "correct horse battery staple") -> None:
    """Log in at the admin's login page (the factory's password by default) and wait for the index."""
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"), wait_until="domcontentloaded")


def chromium_path() -> str | None:
    for candidate in (os.environ.get("HEYSH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture
def browser_page():
    executable = chromium_path()
    if executable is None:
        message = "Chromium not found at /usr/bin/chromium (apt-get install chromium)"
        if os.environ.get("HEYSH_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    # Playwright's sync API runs an event loop in this thread: tell Django that ORM use here is deliberate.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        # Every Content-Security-Policy violation and any other console or page error is kept on
        # the page (tests assert the policy holds) and fails the test at teardown.
        page.console_errors = []
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));"
        )
        page.on("console", lambda message: page.console_errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: page.console_errors.append(f"page error: {error}"))
        try:
            yield page
        finally:
            context.close()
            browser.close()
        assert page.console_errors == [], page.console_errors
