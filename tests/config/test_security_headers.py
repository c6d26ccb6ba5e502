"""The security headers: a Content-Security-Policy with no inline code, `Cache-Control: no-store` on what
may carry personal data, Referrer-Policy and Permissions-Policy; and a scan that keeps every template
free of the inline script and style that the policy would refuse."""

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from tests.factories import TEST_PASSWORD

EXPECTED_DIRECTIVES = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def directives(response) -> dict[str, set[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = set(sources)
    return parsed


def assert_common_headers(response):
    assert directives(response) == EXPECTED_DIRECTIVES
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment"):
        assert f"{feature}=()" in permissions


@pytest.mark.django_db
def test_a_signed_in_page_is_not_stored_and_carries_the_policy(client, agent):
    client.force_login(agent)

    response = client.get(reverse("my_work"))

    assert response.status_code == 200
    assert_common_headers(response)
    assert response["Cache-Control"] == "no-store"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_an_api_response_is_not_stored_even_without_a_session(client, agent):
    anonymous = client.get("/api/v1/cases/")
    client.force_login(agent)
    signed_in = client.get("/api/v1/cases/")

    assert anonymous.status_code == 401
    assert anonymous["Cache-Control"] == "no-store"
    assert signed_in.status_code == 200
    assert signed_in["Cache-Control"] == "no-store"
    assert_common_headers(signed_in)


@pytest.mark.django_db
def test_the_login_page_carries_the_policy_and_is_not_stored(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert_common_headers(response)
    # Django's LoginView is never_cache; the middleware leaves an anonymous page's header as it is.
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_signing_in_answers_with_no_store(client, agent):
    response = client.post(reverse("login"), {"username": agent.username, "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"


def test_a_static_file_stays_cacheable(client):
    response = client.get(static("css/app.css"))

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "Permissions-Policy" not in response


@pytest.mark.django_db
def test_only_the_rule_preview_may_be_framed_and_only_by_our_own_pages(client, admin_user):
    client.force_login(admin_user)

    preview = client.post(reverse("admin:escalation_escalationrule_preview_new"), {})
    change_list = client.get(reverse("admin:escalation_escalationrule_changelist"))

    assert preview.status_code == 200
    assert preview["X-Frame-Options"] == "SAMEORIGIN"
    assert directives(preview)["frame-ancestors"] == {"'self'"}
    assert directives(preview)["script-src"] == {"'self'"}
    assert preview["Cache-Control"] == "no-store"
    assert change_list.status_code == 200
    assert directives(change_list)["frame-ancestors"] == {"'none'"}


@pytest.mark.django_db
def test_the_api_docs_page_loads_its_start_up_code_from_a_script_file(client, agent):
    client.force_login(agent)

    page = client.get("/api/docs/")
    html = page.content.decode()
    script_urls = re.findall(r"""<script[^>]*\ssrc=["']([^"']+)""", html)
    start_up = client.get(next(url for url in script_urls if "script=" in url).replace("&amp;", "&"))

    assert page.status_code == 200
    assert_common_headers(page)
    assert INLINE_SCRIPT.search(html) is None
    assert "<style" not in html
    assert start_up.status_code == 200
    assert start_up["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in start_up.content.decode()


# --- No inline code in any template ---------------------------------------------------------------

# A <script> without src (inline code; a JSON data block comes from the json_script filter instead),
# a <style> element, a style="" attribute, an on...="" handler, htmx's hx-on (evaluated code), a
# javascript: URL.
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
INLINE_CODE = {
    "inline <script>": INLINE_SCRIPT,
    "<style> element": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"""\sstyle\s*=\s*["'{]""", re.IGNORECASE),
    "event handler attribute": re.compile(r"""\son[a-z]+\s*=\s*["'{]""", re.IGNORECASE),
    "hx-on attribute": re.compile(r"\s(?:data-)?hx-on", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def project_templates() -> list[Path]:
    base = Path(settings.BASE_DIR)
    roots = [Path(d) for engine in settings.TEMPLATES for d in engine["DIRS"]]
    roots += [
        Path(config.path) / "templates"
        for config in apps.get_app_configs()
        if Path(config.path).is_relative_to(base) and ".venv" not in Path(config.path).parts
    ]
    return sorted({path for root in roots if root.is_dir() for path in root.rglob("*.html")})


def test_the_scan_finds_inline_code_of_every_kind():
    samples = {
        "inline <script>": '<script>alert(1)</script><script src="/static/x.js"></script>',
        "<style> element": "<style>body {}</style>",
        "style attribute": '<span style="width: 3%">',
        "event handler attribute": '<select onchange="this.form.submit()">',
        "hx-on attribute": '<button hx-on:click="go()">',
        "javascript: URL": '<a href="javascript:void(0)">',
    }
    for kind, sample in samples.items():
        assert INLINE_CODE[kind].search(sample), kind
    harmless = '<script src="{% static \'js/app.js\' %}" defer></script><div data-bar-width="3" class="on">'
    assert not any(pattern.search(harmless) for pattern in INLINE_CODE.values())


def test_no_template_has_inline_script_or_style():
    templates = project_templates()
    found = [
        f"{path.relative_to(settings.BASE_DIR)}:{text[: match.start()].count(chr(10)) + 1}: {kind}"
        for path in templates
        for text in [path.read_text(encoding="utf-8")]
        for kind, pattern in INLINE_CODE.items()
        for match in pattern.finditer(text)
    ]

    scanned = {path.relative_to(settings.BASE_DIR).as_posix() for path in templates}
    assert {"templates/base.html", "templates/repayment_plans/plan_agreement.html"} <= scanned
    assert found == [], "the Content-Security-Policy refuses inline code; move it to a file under static/"
