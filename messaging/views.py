"""Send from the case: pick a template, preview it filled in with the contact policy's verdict, send.

Thin function views over messaging.services (templates_for_case, case_message_preview,
case_message_send). One URL serves the full page or, under HTMX, the fragment the case page's
"Send message" drawer loads (the panel registered by MessagingConfig costs the case page no query).
A refusal is shown beside the form; a case outside the user's reach is a 404 (as every case page), a
role that may not work cases a 403.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import Capability, has_capability
from collections_app import services as kernel
from collections_app.access import get_case_for_user, visible_through_case
from collections_app.models import AccessKind, AccessSource, Case
from collections_app.panels import CaseDocument
from core.exceptions import DomainError, NotAllowed
from messaging import services
from messaging.models import MessageChannel, MessageStatus, OutboundMessage, Purpose


class SendForm(forms.Form):
    template = forms.TypedChoiceField(label=gettext_lazy("Template"), coerce=int)
    note = forms.CharField(
        label=gettext_lazy("Why (kept with the message, optional)"),
        required=False,
        max_length=500,
        widget=forms.TextInput,
    )

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        by_channel: dict[str, list[tuple[int, str]]] = {}
        for template in templates:
            by_channel.setdefault(template.channel, []).append((template.pk, template.get_purpose_display()))
        # One group per channel: the agent picks the channel and the template in one choice.
        self.fields["template"].choices = [
            (MessageChannel(channel).label, options) for channel, options in by_channel.items()
        ]


def _case_for(request: HttpRequest, case_id: int) -> Case:
    try:
        return get_case_for_user(request.user, case_id, capability=Capability.WORK_CASES)
    except NotAllowed as refused:
        raise PermissionDenied(refused.message) from None


def _respond(request: HttpRequest, case: Case, context: dict, *, status: int = 200) -> HttpResponse:
    context = {"case": case, **context}
    if request.htmx:
        return render(request, "messaging/_case_send.html", context, status=status)
    return render(request, "messaging/case_send.html", context, status=status)


def _form(case: Case, data=None) -> SendForm:
    return SendForm(data, templates=services.templates_for_case(case))


@login_required
@require_http_methods(["GET", "POST"])
def case_send_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """GET: the template choice. POST: send the chosen template (after a preview; the service checks
    everything again)."""
    case = _case_for(request, case_id)
    if request.method == "GET":
        return _respond(request, case, {"form": _form(case)})
    form = _form(case, request.POST)
    if not form.is_valid():
        return _respond(request, case, {"form": form}, status=422)
    try:
        message = services.case_message_send(
            case_id=case.pk,
            actor=request.user,
            template_id=form.cleaned_data["template"],
            reason=form.cleaned_data["note"],
        )
    except NotAllowed as refused:
        raise PermissionDenied(refused.message) from None
    except DomainError as error:
        return _respond(request, case, {"form": form, "error": error}, status=422)
    return _respond(request, case, {"form": _form(case), "queued": message})


@login_required
@require_POST
def case_preview_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """The chosen template filled in for this case, the masked recipient and the policy's verdict now."""
    case = _case_for(request, case_id)
    form = _form(case, request.POST)
    if not form.is_valid():
        return _respond(request, case, {"form": form}, status=422)
    try:
        preview = services.case_message_preview(
            case_id=case.pk, actor=request.user, template_id=form.cleaned_data["template"]
        )
    except NotAllowed as refused:
        raise PermissionDenied(refused.message) from None
    except DomainError as error:
        return _respond(request, case, {"form": form, "error": error}, status=422)
    return _respond(request, case, {"form": form, "preview": preview})


def _letter_page(request: HttpRequest, case: Case, *, subject: str, body: str, draft: bool, at=None):
    cardholder = case.account.cardholder
    # The letter's own words are in the template's language; the page around them follows the cardholder.
    language = services.language_of(cardholder.language) or settings.LANGUAGE_CODE
    with translation.override(language):
        html = render_to_string(
            "messaging/letter.html",
            {
                "case": case,
                "cardholder": cardholder,
                "subject": subject,
                "body": body,
                "draft": draft,
                "at": at,
                "language": translation.get_language(),
            },
            request=request,
        )
    response = HttpResponse(html)
    response.headers["Content-Language"] = language
    return response


@login_required
@require_GET
def case_letter_preview_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """A letter template filled in for this case, as the printable page it will be (marked as a draft)."""
    case = _case_for(request, case_id)
    try:
        template_id = int(request.GET.get("template", ""))
    except ValueError:
        template_id = 0
    try:
        preview = services.case_message_preview(case_id=case.pk, actor=request.user, template_id=template_id)
    except NotAllowed as refused:
        raise PermissionDenied(refused.message) from None
    except DomainError as error:
        return HttpResponse(error.message, status=422, content_type="text/plain; charset=utf-8")
    if preview.channel != MessageChannel.LETTER:
        return HttpResponse(_("Not a letter."), status=422, content_type="text/plain; charset=utf-8")
    return _letter_page(request, case, subject=preview.subject, body=preview.body, draft=True)


def _letters(user, case_id: int | None = None):
    letters = OutboundMessage.objects.filter(channel=MessageChannel.LETTER).exclude(body="")
    if case_id is not None:
        letters = letters.filter(case_id=case_id)
    return visible_through_case(user, letters)


@login_required
@require_GET
def letter_view(request: HttpRequest, message_id: int) -> HttpResponse:
    """A letter as it went to the print run (its text is kept once it is written), printable. Opening it
    shows the cardholder's name and address: it needs a reason (`?reason=`), asked on a page of its own
    first, and is recorded as a print (collections_app.services.access_record)."""
    message = _letters(request.user).select_related("case__account__cardholder").filter(pk=message_id).first()
    if message is None:
        raise Http404(_("No such letter"))
    try:
        reason = kernel.access_reason_from(request.GET)
    except kernel.AccessReasonMissing as missing:
        asked = bool(request.GET.get("reason"))
        context = {"message": message, "case": message.case, "error": missing.message if asked else ""}
        return render(request, "messaging/letter_reason.html", context, status=400 if asked else 200)
    kernel.access_record(
        actor=request.user,
        kind=AccessKind.PRINT,
        source=AccessSource.PAGE,
        reason=reason,
        cardholder_id=message.case.account.cardholder_id,
        case_id=message.case_id,
        what=f"letter:{message.pk}",
        request_id=kernel.request_id_of(request),
    )
    return _letter_page(
        request,
        message.case,
        subject=message.subject,
        body=message.body,
        draft=False,
        at=message.sent_at or message.updated_at,
    )


# --- On the case page ----------------------------------------------------------------------------------


def case_message_action(request: HttpRequest, case: Case) -> SafeString:
    """The case page's "Send message" button and its drawer (registered in the action bar by
    MessagingConfig). No query: the drawer's content is loaded from case_send_view when opened."""
    if not has_capability(request.user, Capability.WORK_CASES):
        return SafeString("")
    return render_to_string("messaging/_case_message_action.html", {"case": case}, request=request)


def case_letter_documents(request: HttpRequest, case: Case) -> list[CaseDocument]:
    """The case's Documents tab: the letters written for the print run, in the cardholder's language."""
    letters = _letters(request.user, case.pk).filter(status__in=(MessageStatus.WRITTEN, MessageStatus.SENT))
    return [
        CaseDocument(
            title=letter.subject or Purpose(letter.purpose).label,
            url=reverse("messaging:letter", args=[letter.pk]),
            kind=_("Letter"),
            at=letter.sent_at or letter.updated_at,
        )
        for letter in letters.order_by("-created_at", "-id")
    ]
