"""The history triggers' helpers (history.trigger_functions): installed by migrate over the packages'
versions, without an exception block, and doing what those did - skip the triggers pgtrigger.ignore
names, attach the pghistory context when one is set, nothing when none is."""

import uuid

import pytest
from django.db import connection

from collections_app.models import Cardholder
from history import models as events
from history import trigger_functions
from history.context import unrecorded
from tests.factories import CardholderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def one(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_migrate_leaves_the_helpers_without_an_exception_block():
    # pgtrigger re-creates its helper whenever it installs a trigger (at every migrate): ours comes after.
    assert trigger_functions.installed()
    source = one("SELECT prosrc FROM pg_proc WHERE proname = '_pgtrigger_should_ignore'")
    assert "current_setting('pgtrigger.ignore', true)" in source


def test_should_ignore_answers_from_the_setting_set_or_not():
    assert one("SELECT _pgtrigger_should_ignore('some_trigger')") is False  # never set in this session
    one("SELECT set_config('pgtrigger.ignore', '{some_trigger}', true)")
    assert one("SELECT _pgtrigger_should_ignore('some_trigger')") is True
    assert one("SELECT _pgtrigger_should_ignore('another')") is False
    one("SELECT set_config('pgtrigger.ignore', '', true)")  # what a reset leaves
    assert one("SELECT _pgtrigger_should_ignore('some_trigger')") is False


def test_attach_context_returns_and_records_the_context_only_when_one_is_set():
    assert one("SELECT _pgh_attach_context()") is None
    context_id = uuid.uuid4()
    one(
        "SELECT set_config('pghistory.context_id', %s, true) || "
        "set_config('pghistory.context_metadata', %s, true)",
        [str(context_id), '{"source": "shell"}'],
    )
    assert one("SELECT _pgh_attach_context()") == context_id
    assert one("SELECT metadata->>'source' FROM pghistory_context WHERE id = %s", [context_id]) == "shell"
    one("SELECT set_config('pghistory.context_id', '', true)")
    assert one("SELECT _pgh_attach_context()") is None


def test_a_change_made_unrecorded_leaves_no_event_and_one_made_after_does():
    holder = CardholderFactory()
    with unrecorded():
        Cardholder.objects.filter(pk=holder.pk).update(name="不记录")
    assert not events.CardholderChange.objects.filter(pgh_obj_id=holder.pk, name="不记录").exists()
    Cardholder.objects.filter(pk=holder.pk).update(name="记录")  # the setting is back to empty
    assert events.CardholderChange.objects.filter(pgh_obj_id=holder.pk, name="记录").exists()
