"""The Simplified Chinese catalogue is complete: every message has a checked translation, and every
message in the code is in the catalogue (`make messages` was run after the last new string).

Both read locale/zh_Hans/LC_MESSAGES/django.po as committed; the second runs Django's makemessages
into a temporary directory, never over the committed file."""

import ast
import io
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.translations import CATALOGUE, ROOT, Entry, read_po

# The directories `make messages` ignores (Makefile), plus the catalogue itself so that the run below
# writes only into the temporary directory.
IGNORED = [".venv", ".uv", "locale", "node_modules", "var", "staticfiles", "db.sqlite3"]


def _describe(entries: list[Entry]) -> str:
    return "\n".join(f"  line {entry.line}: {entry.msgid!r}" for entry in entries)


def test_every_message_has_a_chinese_translation():
    entries = read_po()
    assert len(entries) > 500, "the catalogue was not read"

    untranslated = [entry for entry in entries if entry.untranslated]
    fuzzy = [entry for entry in entries if entry.fuzzy]

    assert not untranslated, (
        f"{len(untranslated)} message(s) of {CATALOGUE.relative_to(ROOT)} have no translation "
        f"(fill the msgstr, then `make messages`):\n{_describe(untranslated)}"
    )
    assert not fuzzy, (
        f"{len(fuzzy)} message(s) are marked fuzzy (gettext guessed them from a similar message): check "
        f"each translation, then remove the flag:\n{_describe(fuzzy)}"
    )


def test_placeholders_of_each_translation_match_its_message():
    """A translation that drops or misspells %(name)s fails at runtime (KeyError) or loses the fact."""
    placeholder = re.compile(r"%\(\w+\)[sdf]")
    wrong = [
        entry
        for entry in read_po()
        if entry.msgstrs
        and not entry.untranslated
        and any(
            sorted(placeholder.findall(text)) != sorted(placeholder.findall(entry.msgid))
            for text in entry.msgstrs
        )
        and not entry.msgid_plural
    ]
    assert not wrong, f"translations whose placeholders differ from the message:\n{_describe(wrong)}"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="xgettext missing (apt-get install gettext)")
def test_catalogue_holds_every_message_of_the_code(settings, tmp_path, monkeypatch):
    # makemessages writes next to the nearest `locale` directory it sees: run it in a directory of links
    # to the project's sources without one, so that it writes the fresh catalogue under tmp_path only.
    sources = tmp_path / "src"
    sources.mkdir()
    for child in ROOT.iterdir():
        if child.name not in IGNORED and not child.name.startswith("."):
            (sources / child.name).symlink_to(child)
    monkeypatch.chdir(sources)
    settings.LOCALE_PATHS = [str(tmp_path / "locale")]

    call_command("makemessages", locale=["zh_Hans"], symlinks=True, verbosity=0, stdout=io.StringIO())

    fresh = read_po(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
    assert len(fresh) > 500, "makemessages found no messages: did it run in the project directory?"
    committed = {(entry.msgctxt, entry.msgid) for entry in read_po()}
    missing = [entry for entry in fresh if (entry.msgctxt, entry.msgid) not in committed]
    assert not missing, (
        f"{len(missing)} message(s) in the code are not in {CATALOGUE.relative_to(ROOT)}: run "
        f"`make messages` and translate them:\n" + "\n".join(f"  {entry.msgid!r}" for entry in missing)
    )


# --- Messages raised to people are translatable -----------------------------------------------------

# Calls whose message a person reads: on a page (403, a form error, a refusal) or in the API body.
USER_FACING = {
    "DomainError",
    "PermissionDenied",
    "Http404",
    "ValidationError",
    "APIException",
    "NotFound",
    "ParseError",
    "AuthenticationFailed",
    "NotAuthenticated",
    "MethodNotAllowed",
    # and the plain answers a view may give with a sentence in them
    "HttpResponseBadRequest",
    "HttpResponseForbidden",
    "HttpResponseNotFound",
}
APPS = [
    "core",
    "accounts",
    "contact_policy",
    "collections_app",
    "repayment_plans",
    "legal",
    "escalation",
    "messaging",
    "imports",
    "dashboards",
    "privacy",
    "automation",
    "api",
]


def _sources() -> list[Path]:
    return [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and "management" not in path.parts
    ]


def untranslated_raises(trees: dict[str, ast.Module]) -> list[str]:
    """Calls of user-facing exceptions (and their subclasses, found in `trees`) whose message is a
    plain string or an f-string rather than a gettext call."""
    bases: dict[str, list[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]

    def user_facing(name: str, seen: frozenset = frozenset()) -> bool:
        if name in USER_FACING:
            return True
        return any(user_facing(base, seen | {name}) for base in bases.get(name, []) if base not in seen)

    found = []
    for where, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            first = node.args[0]
            literal = isinstance(first, ast.JoinedStr) or (
                isinstance(first, ast.Constant) and isinstance(first.value, str)
            )
            if name and literal and user_facing(name):
                found.append(f"  {where}:{node.lineno}: {name}({ast.unparse(first)[:70]})")
    return found


def test_exceptions_people_read_carry_a_translatable_message():
    """`raise NotAllowed("Your role ...")` would reach a Chinese page in English: the message must go
    through gettext (`_("...")`); an f-string cannot be a msgid."""
    trees = {str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8")) for path in _sources()}

    offenders = untranslated_raises(trees)

    assert not offenders, "messages raised to people without gettext:\n" + "\n".join(offenders)


def test_untranslated_raises_finds_literals_also_through_subclasses():
    sample = ast.parse(
        "class Refused(DomainError): pass\n"
        "class Stale(Refused): pass\n"
        'raise Stale("Someone else changed it.")\n'
        'raise Refused(f"Case {n} is closed.")\n'
        'raise Refused(_("Case %(n)s is closed.") % {"n": n})\n'
        'raise ValueError("not for people")\n'
    )

    found = untranslated_raises({"sample.py": sample})

    assert [line.split(":")[1] for line in found] == ["3", "4"]
