"""core.choices: get_FOO_display() from a label dict built once per field, with Django's answers."""

from django.db import models
from django.test.utils import isolate_apps
from django.utils import translation

from collections_app.models import Case, CaseEvent, CaseState, EventKind
from core.choices import ChoiceLabels, choice_labels


def test_the_label_follows_the_active_language():
    case = Case(state=CaseState.IN_PROGRESS)
    with translation.override("en"):
        english = case.get_state_display()
    with translation.override("zh-hans"):
        chinese = case.get_state_display()
        assert chinese == str(CaseState.IN_PROGRESS.label)
    assert english == "In progress"
    assert chinese != english


def test_a_value_outside_the_choices_is_shown_as_it_is():
    assert Case(state="archived").get_state_display() == "archived"
    assert CaseEvent(kind="").get_kind_display() == ""


def test_the_answer_is_djangos_for_every_choice():
    field = CaseEvent._meta.get_field("kind")
    for value in EventKind.values:
        event = CaseEvent(kind=value)
        assert event.get_kind_display() == models.Model._get_FIELD_display(event, field)


@isolate_apps("core")
def test_the_labels_are_built_once_per_field_and_again_when_the_choices_change():
    field = CaseEvent._meta.get_field("kind")
    assert choice_labels(field) is choice_labels(field)

    class Thing(ChoiceLabels, models.Model):
        colour = models.CharField(max_length=5, choices=[("r", "red")])

        class Meta:
            app_label = "core"

        def __str__(self):
            return self.colour

    colour = Thing._meta.get_field("colour")
    assert Thing(colour="r").get_colour_display() == "red"
    colour.choices = [("r", "rouge")]
    assert Thing(colour="r").get_colour_display() == "rouge"
