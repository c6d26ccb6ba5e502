"""The per-user API limit across web processes: each process may hold a small stock of calls already
counted in the shared cache, and together they never let more than the limit through."""

import time

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from api import throttling

pytestmark = pytest.mark.django_db


def test_two_processes_together_never_exceed_the_limit(clients, settings, office_hours, monkeypatch):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "25/min"}}
    office_hours.move_to("2026-06-02 10:00:05 +0800")
    processes = [throttling._Stock(), throttling._Stock()]  # the stock each process keeps in memory

    answers = []
    for n in range(40):
        monkeypatch.setattr(throttling, "stock", processes[n % 2])
        answers.append(clients["agent"].get("/api/v1/me/").status_code)

    assert answers.count(200) == 25
    assert set(answers) == {200, 429}


def test_a_user_far_below_the_limit_is_counted_ten_calls_at_a_time(clients, agent, office_hours):
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        pytest.skip("the batch is counted by the Redis script; other caches count each call")
    office_hours.move_to("2026-06-02 10:00:05 +0800")
    window = int(time.time() // 60)
    key = f"throttle_user_{agent.pk}:{window}"

    for _ in range(3):
        assert clients["agent"].get("/api/v1/me/").status_code == 200

    assert cache.get(key) == throttling.BATCH  # one count of ten; two calls served from the stock
