"""The clinician pages over HTTP without a browser (these run wherever jinja2 is installed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("jinja2", reason="the web view needs jinja2")
pytest.importorskip("nhsuk_frontend_jinja", reason="the web view needs nhsuk-frontend-jinja")

from starlette.routing import Mount  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from gpbridge.api.app import create_app  # noqa: E402
from gpbridge.config import Settings  # noqa: E402
from gpbridge.demo.loader import load_demo  # noqa: E402
from gpbridge.records.demo_sources import add_second_source  # noqa: E402
from gpbridge.store import open_store  # noqa: E402
from gpbridge.web import web_app  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    directory: Path = tmp_path_factory.mktemp("pages")
    settings = Settings(database=f"sqlite:///{directory}/pages.db", insecure_dev=True)
    store = open_store(settings.database, settings)
    load_demo(store, settings, patients=1)
    add_second_source(store, settings)
    app = create_app(settings, store)
    app.router.routes.insert(0, Mount("/web", app=web_app()))
    with TestClient(app) as http:
        yield http
    store.close()


def test_an_nhs_number_goes_straight_to_the_record(client: TestClient) -> None:
    response = client.get("/web/?nhs_number=999+000+0018", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/web/patients/9990000018"


def test_the_record_page_shows_merged_items_and_the_conflict_banner(client: TestClient) -> None:
    html = client.get("/web/patients/9990000018").text
    assert "2 conflicts between sources" in html
    assert "Recorded by 2 sources" in html
    assert html.count('class="gpb-section"') == 9
    assert "https://" not in html.split("<body", 1)[1].replace("https://fhir.nhs.uk", "")  # no CDN


def test_each_consultation_shows_its_entries_by_topic(client: TestClient) -> None:
    import re

    html = client.get("/web/patients/9990000018").text
    consultations = html.split('id="section-consultations"', 1)[1].split("</section>", 1)[0]
    topics = re.findall(r'<ul class="nhsuk-list gpb-topics">(.*?)</ul>', consultations, re.S)
    assert topics, "no consultation lists its topics"
    text = " ".join(re.sub(r"<[^>]+>", " ", t) for t in topics)
    assert "Diabetes mellitus type 2" in text  # a review consultation is about the patient's problem
    assert "Examination: Blood pressure" in text


def test_assets_are_served_locally(client: TestClient) -> None:
    css = client.get("/web/assets/nhsuk-frontend.min.css")
    assert css.status_code == 200 and ".nhsuk-header" in css.text and "assets.nhs.uk" not in css.text
    assert client.get("/web/assets/nhsuk-frontend.min.js").status_code == 200


def test_denied_access_is_a_page_not_a_crash(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from gpbridge.fhir.outcome import FhirError
    from gpbridge.web import pages

    class Denied:
        def enforce(self) -> None:
            raise FhirError.of(403, "forbidden", "Access denied: no legitimate relationship")

    monkeypatch.setattr(pages, "authorize", lambda *args, **kwargs: Denied())
    response = client.get("/web/patients/9990000018")
    assert response.status_code == 403
    assert "no legitimate relationship" in response.text
    assert "Cannot show this page" in response.text
