"""core.form_renderer: the widgets and labels it writes in Python are, byte for byte, what Django's
DjangoTemplates renderer makes of its templates - for every widget over a grid of values, attributes,
choices and languages, and for every form of the project, unbound, invalid and bound to hostile input;
what it does not write goes to the template engine and comes out the same."""

from __future__ import annotations

import copy
import importlib
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from django import forms
from django.apps import apps
from django.conf import settings
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.http import QueryDict
from django.template import TemplateDoesNotExist
from django.template.backends.django import DjangoTemplates as DjangoTemplatesBackend
from django.utils import timezone, translation
from django.utils.functional import cached_property, lazy
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from core.form_renderer import EXPECTED_SOURCES, PythonWidgetRenderer
from core.forms import IsoDateInput
from repayment_plans.calculator import PlanKind
from tests.factories import QueueFactory, UserFactory

NASTY = """<script>alert("x & 'y'")</script> &amp; \u00e9"""
WRITTEN_IN_PYTHON = {
    "django/forms/label.html",
    "django/forms/widgets/input.html",
    "django/forms/widgets/textarea.html",
    "django/forms/widgets/select.html",
    "django/forms/widgets/select_option.html",
    *(
        f"django/forms/widgets/{kind}.html"
        for kind in (
            "text",
            "number",
            "email",
            "url",
            "password",
            "hidden",
            "date",
            "datetime",
            "time",
            "checkbox",
            "search",
            "tel",
            "color",
            "file",
        )
    ),
}


class RecordingRenderer(PythonWidgetRenderer):
    """The renderer under test, noting every template it hands to the template engine."""

    def __init__(self):
        super().__init__()
        self.engine_templates: list[str] = []

    def get_template(self, template_name):
        self.engine_templates.append(template_name)
        return super().get_template(template_name)


@pytest.fixture
def django_renderer():
    return DjangoTemplates()


@pytest.fixture
def python_renderer():
    return RecordingRenderer()


@pytest.fixture(params=[("en", False), ("zh-hans", False), ("de", True)], ids=["en", "zh-hans", "de-1,000"])
def locale(request, settings):
    """A language (with its number and date formats), a thousand separator, a time zone."""
    language, thousand_separator = request.param
    settings.USE_THOUSAND_SEPARATOR = thousand_separator
    with translation.override(language), timezone.override("America/New_York"):
        yield language


class Html:
    """An object with __html__ and a __str__ that differ (the template language uses str())."""

    def __html__(self):
        return "<b>html</b>"

    def __str__(self):
        return "<b>str</b> & co"


# Values as a template may meet them (raw, not formatted by a widget first).
RAW_VALUES = [
    None,
    "",
    "plain",
    " padded ",
    NASTY,
    mark_safe("<i>safe</i> &amp; sound"),
    format_html("{} &amp; {}", "<a>", mark_safe("<b>")),
    gettext_lazy("Notes"),
    gettext_lazy(NASTY),
    lazy(lambda: mark_safe("<b>lazy</b> &amp; safe"), str)(),
    0,
    7,
    -12,
    1234567,
    True,
    False,
    2.5,
    1234.5,
    Decimal("0.00"),
    Decimal("1234567.89"),
    date(2026, 12, 17),
    datetime(2026, 12, 17, 9, 30),
    datetime(2026, 12, 17, 9, 30, tzinfo=UTC),
    time(9, 30),
    ("a", 1),
    (),
    ["x", "<y>"],
    {"k": "<v>"},
    Html(),
]
ATTRS = [
    None,
    {},
    {
        "id": "id_x",
        "required": True,
        "disabled": False,
        "placeholder": 'Say "hi" & <wave>',
        "class": "wide  field",
    },
    {"autofocus": True, "maxlength": 10, "data-step": Decimal("0.01"), "aria-describedby": "id_x_helptext"},
    {"title": "it's", "min": date(2026, 1, 1), "data-html": mark_safe("<b>&amp;</b>"), "data-n": 1234567},
    {"readonly": True, "checked": False, "selected": True, "value": "from attrs", "data-zero": 0, "x": None},
    {"data-lazy": gettext_lazy("Notes"), 'we"ird<': "name", "data-float": 2.5, "data-none": ""},
]


def _outcome(render, *args, **kwargs) -> tuple[str, object]:
    """What a render gives: its HTML, or the type of what it raises (Django's own errors included)."""
    try:
        return "html", render(*args, **kwargs)
    except Exception as error:
        return "raises", type(error)


def _same(django_renderer, python_renderer, template_name, context):
    expected = django_renderer.render(template_name, context)
    actual = python_renderer.render(template_name, context)
    assert actual == expected, f"{template_name} with {context!r}"
    assert type(actual) is type(expected) is str


# --- The templates, context by context ----------------------------------------------------------


def test_the_project_renders_forms_with_it_and_every_template_is_written_in_python():
    assert isinstance(get_default_renderer(), PythonWidgetRenderer)
    # Nothing in the project overrides one of these templates (that would send it back to the engine).
    assert PythonWidgetRenderer().python_templates == WRITTEN_IN_PYTHON
    assert set(EXPECTED_SOURCES) >= WRITTEN_IN_PYTHON


@pytest.mark.parametrize("template_name", [f"django/forms/widgets/{name}.html" for name in ("input", "text")])
def test_an_input_is_the_templates(template_name, django_renderer, python_renderer, locale):
    for input_type in ("text", "datetime-local", 'x"y'):
        for name in ("field", 'we"ird<name>'):
            for value in RAW_VALUES:
                for attrs in ATTRS:
                    widget = {"name": name, "type": input_type, "value": value, "attrs": attrs}
                    _same(django_renderer, python_renderer, template_name, {"widget": widget})
    assert python_renderer.engine_templates == []


def test_a_textarea_is_the_templates(django_renderer, python_renderer, locale):
    for value in [*RAW_VALUES, "line one\nline two\n", "\n\nleading newlines", "trailing  \n"]:
        for attrs in ATTRS:
            widget = {"name": "notes", "value": value, "attrs": attrs}
            _same(django_renderer, python_renderer, "django/forms/widgets/textarea.html", {"widget": widget})
    assert python_renderer.engine_templates == []


def _option(value, label, attrs=None):
    return {
        "name": "pick",
        "value": value,
        "label": label,
        "selected": False,
        "index": "0",
        "attrs": attrs or {},
        "type": "select",
        "template_name": "django/forms/widgets/select_option.html",
        "wrap_label": True,
    }


def test_an_option_and_a_select_are_the_templates(django_renderer, python_renderer, locale):
    options = [
        _option(value, label, attrs)
        for value, label in zip(RAW_VALUES, reversed(RAW_VALUES), strict=True)
        for attrs in ATTRS
    ]
    for option in options:
        _same(django_renderer, python_renderer, "django/forms/widgets/select_option.html", {"widget": option})
    group_names = [None, "", "Group <1>", gettext_lazy("Notes"), 0, 2026, 1234567, date(2026, 12, 17)]
    optgroups = [(name, options[index : index + 5], index) for index, name in enumerate(group_names)]
    for groups in ([], optgroups, optgroups[:1], [(None, [], 0)], [("Empty", [], 0)]):
        for attrs in ATTRS:
            widget = {"name": "pick", "value": [], "attrs": attrs, "optgroups": groups}
            _same(django_renderer, python_renderer, "django/forms/widgets/select.html", {"widget": widget})
    assert python_renderer.engine_templates == []


def test_a_label_is_the_templates(django_renderer, python_renderer, locale):
    labels = [*RAW_VALUES, format_html("{}{}", "Amount <b>", ":"), "  spaced label  "]
    for label in labels:
        for attrs in ATTRS:
            for use_tag in (True, False, "", 1):
                for tag in ("label", "legend", 'sp"an'):
                    context = {"field": None, "label": label, "attrs": attrs, "use_tag": use_tag, "tag": tag}
                    _same(django_renderer, python_renderer, "django/forms/label.html", context)
    assert python_renderer.engine_templates == []


# --- The widgets, as fields render them -------------------------------------------------------------

CHOICES = [
    ("", "—"),
    ("a", "Alpha"),
    ("b<", 'B "quoted" & <tag>'),
    (1, 1),
    (2, Decimal("2.50")),
    ("Group <1>", [("g1", "One"), ("g2", mark_safe("<b>Two</b>"))]),
    (gettext_lazy("Notes"), [("n", gettext_lazy("Notes")), (3, 1234567), ("l", gettext_lazy(NASTY))]),
    ("c", "C"),
]


class DisablingSelect(forms.Select):
    """Disables an option through its attrs, the way Django's documentation suggests."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        if value in ("b<", "g1"):
            option["attrs"]["disabled"] = True
        return option


class DisablingSelectMultiple(DisablingSelect, forms.SelectMultiple):
    pass


class InheritingSelect(forms.Select):
    """Options that carry the select's attrs (with ids of their own)."""

    option_inherits_attrs = True
    add_id_index = True


WIDGETS = {
    "TextInput": forms.TextInput,
    "TextInput(attrs)": lambda: forms.TextInput(attrs={"placeholder": '"Quoted"', "size": 10}),
    "NumberInput": forms.NumberInput,
    "EmailInput": forms.EmailInput,
    "URLInput": forms.URLInput,
    "PasswordInput": forms.PasswordInput,
    "PasswordInput(render_value)": lambda: forms.PasswordInput(render_value=True),
    "HiddenInput": forms.HiddenInput,
    "DateInput": forms.DateInput,
    "DateInput(type=date)": lambda: forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    "DateTimeInput": forms.DateTimeInput,
    "DateTimeInput(datetime-local)": lambda: forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
    ),
    "TimeInput": forms.TimeInput,
    "CheckboxInput": forms.CheckboxInput,
    "SearchInput": forms.SearchInput,
    "TelInput": forms.TelInput,
    "ColorInput": forms.ColorInput,
    "FileInput": forms.FileInput,
    "IsoDateInput": IsoDateInput,
    "Textarea": forms.Textarea,
    "Textarea(rows)": lambda: forms.Textarea(attrs={"rows": 2, "cols": 100}),
    "Select": lambda: forms.Select(choices=CHOICES),
    "Select(no choices)": forms.Select,
    "SelectMultiple": lambda: forms.SelectMultiple(choices=CHOICES),
    "DisablingSelect": lambda: DisablingSelect(choices=CHOICES),
    "DisablingSelectMultiple": lambda: DisablingSelectMultiple(choices=CHOICES),
    "InheritingSelect": lambda: InheritingSelect(attrs={"class": "c"}, choices=CHOICES),
    "NullBooleanSelect": forms.NullBooleanSelect,
}
WIDGET_VALUES = [
    *RAW_VALUES,
    "a",
    "b<",
    "g2",
    "n",
    "missing",
    "unknown",
    "true",
    ["a", "g2", 1, "n"],
    ["b<", "g1"],
    "#00ff00",
]


@pytest.mark.parametrize("make_widget", WIDGETS.values(), ids=WIDGETS.keys())
def test_a_widget_renders_as_with_djangos_renderer(make_widget, django_renderer, python_renderer, locale):
    widget = make_widget()
    for name in ("field", 'we"ird<name>'):
        for value in WIDGET_VALUES:
            for attrs in ATTRS:
                # NullBooleanSelect raises on a list value, whichever the renderer.
                expected = _outcome(widget.render, name, value, attrs, renderer=django_renderer)
                actual = _outcome(widget.render, name, value, attrs, renderer=python_renderer)
                assert actual == expected, f"{widget!r} {name!r} {value!r} {attrs!r}"
    assert python_renderer.engine_templates == []


class LabelForm(forms.Form):
    plain = forms.CharField(label="Amount")
    punctuated = forms.CharField(label="Why?", required=False)
    nasty = forms.CharField(label=NASTY, required=False)
    lazy = forms.CharField(label=gettext_lazy("Notes"), label_suffix=" →")
    no_label = forms.CharField(label="", required=False)
    own_id = forms.CharField(widget=forms.TextInput(attrs={"id": "custom-id"}))
    choice = forms.ChoiceField(choices=CHOICES, required=False)
    box = forms.BooleanField(required=False)
    radio = forms.ChoiceField(choices=[("a", "A"), ("b", "B")], widget=forms.RadioSelect)
    when = forms.SplitDateTimeField(required=False)


class RequiredCssForm(LabelForm):
    required_css_class = "required"
    error_css_class = "error"
    label_suffix = ""


@pytest.mark.parametrize("form_class", [LabelForm, RequiredCssForm])
@pytest.mark.parametrize("auto_id", ["id_%s", "lbl-<%s>", False])
def test_a_label_tag_renders_as_with_djangos_renderer(form_class, auto_id, django_renderer, python_renderer):
    calls = [
        {},
        {"attrs": {"class": "x", "data-q": '"q" & <a>'}},
        {"attrs": {"class": "extra", "hidden": True, "inert": False}},
        {"label_suffix": "!"},
        {"label_suffix": ""},
        {"contents": "Other <label>"},
        {"contents": mark_safe("<em>Safe</em>"), "label_suffix": ":"},
    ]
    expected_form = form_class(auto_id=auto_id, renderer=django_renderer)
    actual_form = form_class(auto_id=auto_id, renderer=python_renderer)
    for name in expected_form.fields:
        for kwargs in calls:
            expected, actual = expected_form[name], actual_form[name]
            # label_tag adds the required class to the attrs it is given (when the widget's label has no
            # `for`): each call gets its own copy.
            for method in ("label_tag", "legend_tag"):
                html = getattr(expected, method)(**copy.deepcopy(kwargs))
                assert getattr(actual, method)(**copy.deepcopy(kwargs)) == html, (name, method, kwargs)


# --- Every form of the project ----------------------------------------------------------------------


def _project_form_classes() -> list[type[forms.BaseForm]]:
    """Every form class defined in a forms.py of the project's own apps."""
    classes = []
    for app in apps.get_app_configs():
        if Path(app.path).parent != Path(settings.BASE_DIR) or not (Path(app.path) / "forms.py").exists():
            continue
        module = importlib.import_module(f"{app.name}.forms")
        classes += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, forms.BaseForm)
            and value.__module__ == module.__name__
        ]
    return classes


@pytest.fixture
def form_arguments(supervisor, agent, admin_user):
    """The constructor arguments each form is tried with (a form not named here: no arguments)."""
    queue = QueueFactory(name='Queue <"B"> & co', team=supervisor.team)
    QueueFactory(name="Queue 2")
    UserFactory(username="nasty", first_name='<b>"Bobby"', last_name="Tables & 'co'", team=supervisor.team)
    agents = type(agent).objects.order_by("pk")
    plan_initial = {
        "amount": Decimal("1500.00"),
        "installments": 6,
        "first_due_date": date(2026, 12, 17),
        "down_payment": Decimal("0.00"),
        "discount_percent": Decimal("20.00"),
    }
    plan_kinds = [{"kind": kind} for kind in PlanKind.values]
    return {
        "ContactForm": [
            {},
            {
                "contact_points": [(1, "+86 138 0000 <1>"), (2, 'a"b"@example.com')],
                "statements": [("mini_miranda", 'This is "an attempt" to collect & <debt>')],
                "initial": {"notes": NASTY, "duration_seconds": 1234567},
            },
        ],
        "PromiseForm": [
            {},
            {"conversations": [(5, "Call, 17 Dec 09:30"), (6, "SMS <reply>")]},
            {"initial": {"amount": Decimal("1234567.89"), "due_date": date(2026, 12, 17)}},
        ],
        "CallbackForm": [{}, {"first_allowed": datetime(2026, 12, 17, 9, 30), "prefill": True}],
        "DashboardFilterForm": [{"user": supervisor}, {"user": admin_user}, {"user": agent}],
        "ReassignForm": [{"agents": agents}],
        "BulkReassignForm": [{"queues": type(queue).objects.all(), "agents": agents}],
        "AgentSettingsForm": [{"queues": type(queue).objects.all()}],
        "DispositionForm": [{}, {"by_link": False, "prefix_id": "7"}],
        "MySettingsForm": [{}, {"instance": agent}],
        "PlanTermsForm": [*plan_kinds, {"initial": plan_initial}],
        "ProposeForm": [*plan_kinds, {"initial": plan_initial}],
        "CounterProposalForm": plan_kinds,
    }


def _everything_rendered(form: forms.BaseForm) -> dict[str, str]:
    # The layouts (div, table) are the engine's; each renders every widget and label again.
    rendered = {"str": str(form), "as_table": form.as_table()}
    for bound_field in form:
        name = bound_field.name
        rendered[name] = str(bound_field)
        rendered[f"{name} label_tag"] = bound_field.label_tag()
        rendered[f"{name} label_tag(attrs)"] = bound_field.label_tag(attrs={"class": "x"}, label_suffix="!")
        rendered[f"{name} legend_tag"] = bound_field.legend_tag()
        rendered[f"{name} errors"] = str(bound_field.errors)
    return rendered


def _hostile_data(form: forms.BaseForm) -> QueryDict:
    data = QueryDict(mutable=True)
    for name in form.fields:
        data.setlist(form.add_prefix(name), [NASTY, "2026-12-17", "12"])
    data["conditions-0-field"] = NASTY
    data["conditions-0-value"] = NASTY
    return data


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_form_of_the_project_renders_as_with_djangos_renderer(
    language, form_arguments, django_renderer, python_renderer
):
    covered, skipped = [], []
    with translation.override(language):
        for form_class in _project_form_classes():
            for kwargs in form_arguments.get(form_class.__name__, [{}]):
                try:
                    form_class(**kwargs)
                except TypeError as error:
                    skipped.append(f"{form_class.__name__}: {error}")
                    continue
                hostile = _hostile_data(form_class(**kwargs))
                for state, data in {"unbound": None, "empty": QueryDict(), "hostile": hostile}.items():
                    expected = form_class(data=data, renderer=django_renderer, **kwargs)
                    actual = form_class(data=data, renderer=python_renderer, **kwargs)
                    if data is not None:
                        assert actual.is_valid() == expected.is_valid()
                    expected_html, actual_html = _everything_rendered(expected), _everything_rendered(actual)
                    assert actual_html.keys() == expected_html.keys()
                    for key, html in expected_html.items():
                        assert actual_html[key] == html, f"{form_class.__name__} {kwargs} {state}: {key}"
                covered.append(form_class.__name__)
    print(f"{len(set(covered))} form classes in {len(covered)} variants covered; skipped: {skipped}")
    assert len(set(covered)) >= 20, (covered, skipped)
    assert skipped == []
    # The project's widgets and labels are all written in Python (the engine only lays out the forms,
    # the errors, and the radio and checkbox lists).
    assert set(python_renderer.engine_templates).isdisjoint(python_renderer.python_templates)


# --- What goes to the template engine ---------------------------------------------------------------


class FieldFile:
    url = "/media/statement <1>.pdf"

    def __str__(self):
        return "statement <1>.pdf"


FALLBACK_WIDGETS = [
    (forms.RadioSelect(choices=CHOICES), "b<", "django/forms/widgets/radio.html"),
    (forms.CheckboxSelectMultiple(choices=CHOICES), ["a", "g2"], "django/forms/widgets/checkbox_select.html"),
    (forms.ClearableFileInput(), FieldFile(), "django/forms/widgets/clearable_file_input.html"),
    (forms.SplitDateTimeWidget(), datetime(2026, 12, 17, 9, 30), "django/forms/widgets/splitdatetime.html"),
    (forms.MultipleHiddenInput(), ["a", NASTY], "django/forms/widgets/multiple_hidden.html"),
    (forms.SelectDateWidget(), date(2026, 12, 17), "django/forms/widgets/select_date.html"),
]


@pytest.mark.parametrize(("widget", "value", "template_name"), FALLBACK_WIDGETS)
def test_a_widget_it_does_not_write_is_rendered_by_the_engine(
    widget, value, template_name, django_renderer, python_renderer
):
    attrs = {"id": "id_x", "class": "c"}
    assert widget.render("x", value, attrs, renderer=python_renderer) == widget.render(
        "x", value, attrs, renderer=django_renderer
    )
    assert template_name in python_renderer.engine_templates


def test_a_template_it_does_not_know_is_rendered_by_the_engine(django_renderer, python_renderer):
    context = {"errors": [NASTY, "Second"], "error_class": "errorlist"}
    _same(django_renderer, python_renderer, "django/forms/errors/list/ul.html", context)
    assert python_renderer.engine_templates == ["django/forms/errors/list/ul.html"]


class OtherOptionSelect(forms.Select):
    option_template_name = "django/forms/widgets/radio_option.html"


@pytest.mark.parametrize(
    ("widget", "attrs"),
    [
        # A callable is called by the template language.
        (forms.TextInput(), {"data-called": lambda: "<called>"}),
        # `attrs.items` is attrs["items"] in a template: here the pairs a="b" and c="d".
        (forms.TextInput(), {"items": ["ab", "cd"], "id": "y"}),
        (forms.Select(choices=CHOICES), {"items": ["ab"]}),
        # ... and here one letter where two loop variables wait: the template raises.
        (forms.TextInput(), {"items": "x"}),
        (OtherOptionSelect(choices=CHOICES), {}),
    ],
    ids=["callable", "items-key", "select-items-key", "items-key-raising", "other-option-template"],
)
def test_what_the_template_language_treats_its_own_way_is_rendered_by_the_engine(
    widget, attrs, django_renderer, python_renderer
):
    expected = _outcome(widget.render, "x", "a", attrs, renderer=django_renderer)
    assert _outcome(widget.render, "x", "a", attrs, renderer=python_renderer) == expected
    assert python_renderer.engine_templates


def test_a_callable_value_is_rendered_by_the_engine(django_renderer, python_renderer):
    context = {"widget": {"name": "x", "type": "text", "value": lambda: "<called>", "attrs": {}}}
    _same(django_renderer, python_renderer, "django/forms/widgets/input.html", context)
    assert python_renderer.engine_templates == ["django/forms/widgets/input.html"]


def test_an_overridden_template_is_rendered_by_the_engine(tmp_path, django_renderer):
    (tmp_path / "django/forms/widgets").mkdir(parents=True)
    (tmp_path / "django/forms/widgets/attrs.html").write_text(
        '{% for name, value in widget.attrs.items %} data-{{ name }}="{{ value }}"{% endfor %}'
    )

    class OverridingRenderer(RecordingRenderer):
        @cached_property
        def engine(self):
            return DjangoTemplatesBackend(
                {
                    "APP_DIRS": True,
                    "DIRS": [tmp_path, Path(forms.__file__).parent / "templates"],
                    "NAME": "djangoforms-overridden",
                    "OPTIONS": {},
                }
            )

    renderer = OverridingRenderer()
    # Every widget includes attrs.html; the label has an attrs.html of its own.
    assert renderer.python_templates == {"django/forms/label.html"}
    html = forms.TextInput().render("x", "a", {"id": "y"}, renderer=renderer)
    assert html == '<input type="text" name="x" value="a" data-id="y">'
    assert renderer.engine_templates == ["django/forms/widgets/text.html"]


def test_a_template_the_engine_does_not_have_is_not_written_in_python(tmp_path):
    widgets = Path(forms.__file__).parent / "templates/django/forms/widgets"
    (tmp_path / "django/forms/widgets").mkdir(parents=True)
    for name in ("input.html", "attrs.html"):
        (tmp_path / "django/forms/widgets" / name).write_text((widgets / name).read_text())

    class BareRenderer(RecordingRenderer):
        @cached_property
        def engine(self):
            options = {"APP_DIRS": False, "DIRS": [tmp_path], "NAME": "django-forms-bare", "OPTIONS": {}}
            return DjangoTemplatesBackend(options)

    renderer = BareRenderer()
    assert renderer.python_templates == {"django/forms/widgets/input.html"}
    widget = {"name": "x", "type": "text", "value": "a", "attrs": {}}
    assert renderer.render("django/forms/widgets/input.html", {"widget": widget}) == (
        '<input type="text" name="x" value="a">'
    )
    with pytest.raises(TemplateDoesNotExist):
        renderer.render("django/forms/widgets/text.html", {"widget": widget})
