"""Browser tests: real headless Chromium (Debian's package) driven by Playwright.

No browser is ever downloaded: Playwright launches /usr/bin/chromium, which
scripts/browser.sh installs when missing. The app runs in pytest-django's live server
against the real test database, so every test here is transactional. Screenshots of the
key pages land in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import PASSWORD

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between page actions are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("SEATWISE_CHROMIUM", "/usr/bin/chromium"))
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
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing. Install it with `bash scripts/browser.sh` "
            "(Debian's chromium package); Playwright must not download its own."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def sign_in(browser, live_server):
    """``sign_in(user)`` opens a fresh browser context and signs in through the login
    form, returning the page. Contexts are closed at teardown."""
    contexts = []

    def _sign_in(user, *, password: str = PASSWORD):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1200, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", password)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    yield _sign_in
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(request):
    """``screenshot(page, "members")`` saves tests/artifacts/<test>-members.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _shot(page, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


# The lead's emulator-backed billing driver, for the billing scenarios.
from tests.billing.conftest import stripe_world  # noqa: E402, F401
