"""The form renderer (settings.FORM_RENDERER): Django's own, with its commonest templates written in Python.

Every `{{ form.field }}` and `label_tag` goes through the template engine, once for the widget, once per
included template (attrs, each `<option>`); on the case page that was a large part of the render time.
`PythonWidgetRenderer` writes the HTML of Django's input, textarea, select and label templates directly,
byte for byte what `DjangoTemplates` renders from them: the same escaping (autoescape, `stringformat:'s'`
keeping safe strings, localisation of what is shown without a filter), the same boolean attributes, the
same newlines, the same `.strip()`. Everything else (radio and checkbox lists, file inputs, multiwidgets,
errors, the form and field layouts) is rendered by the template engine as before.

A template is written in Python only when the engine resolves it - and every template it includes - to
the exact text below, the text of Django 5.2's own: a project override, or a Django upgrade that changes
one, sends it back to the engine instead of rendering something the template no longer says. Any value
the template language treats in a way this module does not reproduce (a callable, a non-dict `attrs`, an
`attrs` with an "items" key, an option with another template) also goes to the engine.
tests/core/test_form_renderer.py holds the output to Django's for every widget and every form of the
project."""

from __future__ import annotations

from html import escape  # django.utils.html.escape is this, returning a SafeString

from django.forms.renderers import DjangoTemplates
from django.template import TemplateDoesNotExist
from django.template.base import render_value_in_context
from django.template.defaultfilters import stringformat
from django.utils.functional import Promise, cached_property
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData

_ATTRS = "django/forms/widgets/attrs.html"
_INPUT = "django/forms/widgets/input.html"
_TEXTAREA = "django/forms/widgets/textarea.html"
_SELECT = "django/forms/widgets/select.html"
_SELECT_OPTION = "django/forms/widgets/select_option.html"
_LABEL = "django/forms/label.html"
_LABEL_ATTRS = "django/forms/attrs.html"

_ATTRS_LOOP = (
    "{% for name, value in ATTRS.items %}{% if value is not False %} {{ name }}{% if value is not True %}"
    "=\"{{ value|stringformat:'s' }}\"{% endif %}{% endif %}{% endfor %}"
)
_INCLUDE_INPUT = '{% include "django/forms/widgets/input.html" %}\n'

# What each template reproduced here says, as Django 5.2 ships it.
EXPECTED_SOURCES = {
    _ATTRS: _ATTRS_LOOP.replace("ATTRS", "widget.attrs"),
    _LABEL_ATTRS: _ATTRS_LOOP.replace("ATTRS", "attrs"),
    _INPUT: (
        '<input type="{{ widget.type }}" name="{{ widget.name }}"{% if widget.value != None %} '
        "value=\"{{ widget.value|stringformat:'s' }}\"{% endif %}"
        '{% include "django/forms/widgets/attrs.html" %}>\n'
    ),
    _TEXTAREA: (
        '<textarea name="{{ widget.name }}"{% include "django/forms/widgets/attrs.html" %}>\n'
        "{% if widget.value %}{{ widget.value }}{% endif %}</textarea>\n"
    ),
    _SELECT: (
        '<select name="{{ widget.name }}"{% include "django/forms/widgets/attrs.html" %}>'
        "{% for group_name, group_choices, group_index in widget.optgroups %}{% if group_name %}\n"
        '  <optgroup label="{{ group_name }}">{% endif %}{% for option in group_choices %}\n'
        "  {% include option.template_name with widget=option %}{% endfor %}{% if group_name %}\n"
        "  </optgroup>{% endif %}{% endfor %}\n"
        "</select>\n"
    ),
    _SELECT_OPTION: (
        "<option value=\"{{ widget.value|stringformat:'s' }}\""
        '{% include "django/forms/widgets/attrs.html" %}>{{ widget.label }}</option>\n'
    ),
    _LABEL: (
        "{% if use_tag %}<{{ tag }}{% include 'django/forms/attrs.html' %}>{{ label }}</{{ tag }}>"
        "{% else %}{{ label }}{% endif %}\n"
    ),
}
# The widgets whose template is nothing but an include of input.html (checkbox: CheckboxInput adds its
# `checked` to the attrs before rendering).
_INPUT_WRAPPERS = [
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
]
EXPECTED_SOURCES.update(dict.fromkeys(_INPUT_WRAPPERS, _INCLUDE_INPUT))

# Each template written in Python: the templates it stands for (itself and what it includes).
_DEPENDENCIES = {
    _INPUT: (_INPUT, _ATTRS),
    _TEXTAREA: (_TEXTAREA, _ATTRS),
    _SELECT: (_SELECT, _SELECT_OPTION, _ATTRS),
    _SELECT_OPTION: (_SELECT_OPTION, _ATTRS),
    _LABEL: (_LABEL, _LABEL_ATTRS),
    **{name: (name, _INPUT, _ATTRS) for name in _INPUT_WRAPPERS},
}


class _Fallback(Exception):
    """A value this module does not render the way the template would: the engine renders it."""


class _TemplateContext:
    """The flags of the Context a form template renders in (`Template.render` with a dict, no request)."""

    autoescape = True
    use_l10n = None
    use_tz = None


_CONTEXT = _TemplateContext()


def _resolved(value):
    # The template language calls a callable it reaches through a variable; leave those to it.
    if callable(value):
        raise _Fallback
    return value


def _text(value) -> str:
    """`{{ value }}`: localised, stringified, escaped unless safe."""
    if type(value) is str:
        return escape(value)
    if isinstance(value, Promise):
        # A lazy translation (most labels and choices) is neither localised nor converted before str();
        # what str() gives is then shown like any other string.
        value = str(value)
        if type(value) is str:
            return escape(value)
    return render_value_in_context(_resolved(value), _CONTEXT)


def _formatted(value) -> str:
    """`{{ value|stringformat:'s' }}`: stringformat keeps a safe value safe (it is `is_safe`), and its
    result, a str, is neither localised nor converted further."""
    if type(value) is str:
        return escape(value)
    if type(value) is int:
        return str(value)
    result = stringformat(_resolved(value), "s")
    return result if isinstance(value, SafeData) else conditional_escape(result)


def _attrs(attrs) -> str:
    """attrs.html: `True` is the bare name, `False` leaves the attribute out, anything else is a value."""
    if attrs is None:  # `{% for %}` over a missing variable renders nothing
        return ""
    # `attrs.items` in a template is attrs["items"] when there is such a key.
    if type(attrs) is not dict or "items" in attrs:
        raise _Fallback
    html = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            html.append(f" {_text(name)}")
        else:
            html.append(f' {_text(name)}="{_formatted(_resolved(value))}"')
    return "".join(html)


def _has_value(value) -> bool:
    """`{% if value != None %}`: a comparison that raises is false in a template."""
    try:
        return value != None  # noqa: E711 - the template's own comparison, whatever __eq__ says
    except Exception:
        return False


def _input(widget: dict) -> str:
    value = _resolved(widget["value"])
    html = f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"'
    if _has_value(value):
        html += f' value="{_formatted(value)}"'
    return f"{html}{_attrs(widget['attrs'])}>\n"


def _textarea(widget: dict) -> str:
    value = _resolved(widget["value"])
    text = _text(value) if value else ""
    return f'<textarea name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>\n{text}</textarea>\n'


def _option(option: dict) -> str:
    return (
        f'<option value="{_formatted(_resolved(option["value"]))}"{_attrs(option["attrs"])}>'
        f"{_text(option['label'])}</option>\n"
    )


def _select(widget: dict) -> str:
    html = [f'<select name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _group_index in _resolved(widget["optgroups"]):
        group_name = _resolved(group_name)
        if group_name:
            html.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in _resolved(group_choices):
            # `{% include option.template_name %}`: only Django's <option> is written here.
            if type(option) is not dict or option["template_name"] != _SELECT_OPTION:
                raise _Fallback
            html.append("\n  ")
            html.append(_option(option))
        if group_name:
            html.append("\n  </optgroup>")
    html.append("\n</select>\n")
    return "".join(html)


def _label(context: dict) -> str:
    label = _text(context["label"])
    if not _resolved(context["use_tag"]):
        return label
    tag = _text(context["tag"])
    return f"<{tag}{_attrs(_resolved(context['attrs']))}>{label}</{tag}>"


_WRITERS = {
    _INPUT: lambda context: _input(context["widget"]),
    _TEXTAREA: lambda context: _textarea(context["widget"]),
    _SELECT: lambda context: _select(context["widget"]),
    _SELECT_OPTION: lambda context: _option(context["widget"]),
    _LABEL: _label,
    **dict.fromkeys(_INPUT_WRAPPERS, lambda context: _input(context["widget"])),
}


class PythonWidgetRenderer(DjangoTemplates):
    """Django's DjangoTemplates renderer; the templates of EXPECTED_SOURCES are written in Python."""

    @cached_property
    def python_templates(self) -> frozenset[str]:
        """The templates this renderer writes itself: those whose own text, and the text of every template
        they include, is what this module reproduces."""
        sources = {name: self._source(name) for name in EXPECTED_SOURCES}
        return frozenset(
            name
            for name, dependencies in _DEPENDENCIES.items()
            if all(sources[dependency] == EXPECTED_SOURCES[dependency] for dependency in dependencies)
        )

    def _source(self, template_name: str) -> str | None:
        try:
            return self.engine.get_template(template_name).template.source
        except TemplateDoesNotExist:
            return None

    def render(self, template_name, context, request=None):
        if template_name in self.python_templates:
            try:
                # Like BaseRenderer.render: the rendered text stripped, a plain str (callers mark it safe).
                return _WRITERS[template_name](context).strip()
            except Exception:  # noqa: S110 - the engine renders it, or raises what the template raises
                pass
        return super().render(template_name, context, request=request)
