"""The bench serves the pages as production does (demo.bench.web.production_templates): the template engine
out of debug mode and templates compiled once, whatever the settings the bench runs under."""

from django.conf import settings
from django.template import engines
from django.template.loader import get_template
from django.test.utils import override_settings

from demo.bench import web


def _cached(loaders) -> bool:
    return web._caches_templates(loaders)


def test_the_pages_are_measured_with_the_engine_out_of_debug_mode_and_templates_cached():
    with override_settings(DEBUG=True, TEMPLATES=web.production_templates()):
        engine = engines["django"].engine
        assert engine.debug is False
        assert _cached(engine.loaders)
        # django-template-partials still answers for a fragment (the case page's timeline).
        assert get_template("collections_app/case_detail.html#timeline") is not None
        page = "collections_app/case_detail.html"
        assert get_template(page).template is get_template(page).template  # compiled once


def test_loaders_configured_without_the_cache_get_it():
    plain = [{**settings.TEMPLATES[0], "OPTIONS": {"loaders": ["django.template.loaders.filesystem.Loader"]}}]
    with override_settings(TEMPLATES=plain):
        [engine] = web.production_templates()
    assert engine["OPTIONS"]["debug"] is False
    assert engine["OPTIONS"]["loaders"] == [
        ("django.template.loaders.cached.Loader", ["django.template.loaders.filesystem.Loader"])
    ]
    assert not _cached(["django.template.loaders.filesystem.Loader"])
