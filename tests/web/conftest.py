"""Browser tests: the real app (demo patient + a second source) served by uvicorn in a thread,
driven by Playwright through Debian's chromium. Skipped, saying why, when either is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving_helpers import serving

CHROMIUM = "/usr/bin/chromium"


def _requirements() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    for module in ("playwright", "jinja2", "nhsuk_frontend_jinja", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            return f"the Python package {module} is not installed"
    return None


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = _requirements()
    if missing:
        pytest.skip(f"browser tests need chromium and Playwright: {missing}")
    from starlette.routing import Mount

    from gpbridge.api.app import create_app
    from gpbridge.config import Settings
    from gpbridge.demo.loader import load_demo
    from gpbridge.records.demo_sources import add_second_source
    from gpbridge.store import open_store
    from gpbridge.web import web_app

    directory = tmp_path_factory.mktemp("web")
    settings = Settings(database=f"sqlite:///{directory}/web.db", insecure_dev=True)
    store = open_store(settings.database, settings)
    load_demo(store, settings, patients=3)
    add_second_source(store, settings)
    app = create_app(settings, store)
    app.router.routes.insert(0, Mount("/web", app=web_app()))  # as the lead mounts it in app.py
    with serving(app) as root:
        yield f"{root}/web"
    store.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = _requirements()
    if missing:
        pytest.skip(f"browser tests need chromium and Playwright: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=True)
    opened = context.new_page()
    yield opened
    context.close()
