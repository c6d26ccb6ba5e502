"""The admin page of the priority weights: one row, edited with a preview of how each queue's order changes.

The change form has a Preview button that posts the form as it stands (not saved) to `preview/`; the answer,
shown in a frame under the fields, is computed by `queues.priority_preview` - per active queue, how many
claimable cases move up or down in the order Next case hands them out, and its first ten cases before and
after - with the same score the nightly run computes (`queues.priority_sql`). Saving goes through
`queues.priority_weights_save`, which drops the pages' cached copy; the scores change at the next nightly run.

Registered here; collections_app.admin imports this module.
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin

from collections_app.models import PriorityWeights
from collections_app.services import queues

PREVIEW_TOP = 10


@admin.register(PriorityWeights)
class PriorityWeightsAdmin(admin.ModelAdmin):
    change_form_template = "admin/collections_app/priorityweights/change_form.html"
    readonly_fields = ["updated_at", "updated_by"]
    fieldsets = [
        (None, {"fields": [("dpd_points_per_day", "dpd_cap_days")]}),
        (None, {"fields": [("amount_points_per_thousand", "amount_cap_points")]}),
        (None, {"fields": ["broken_promise_points", "broken_plan_points", "callback_due_points"]}),
        (None, {"fields": [("updated_at", "updated_by")]}),
    ]

    # One row: the list is the row itself; it is neither added (the migration ships it) nor deleted.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        row, _created = PriorityWeights.objects.get_or_create(pk=PriorityWeights.SINGLETON_PK)
        return HttpResponseRedirect(reverse("admin:collections_app_priorityweights_change", args=[row.pk]))

    def save_model(self, request, obj, form, change):
        queues.priority_weights_save(obj, actor=request.user)

    def get_urls(self):
        # The answer is shown in a frame of the change form: same-origin framing (X_FRAME_OPTIONS is DENY).
        view = self.admin_site.admin_view(xframe_options_sameorigin(self.preview_view))
        return [
            path("<path:object_id>/preview/", view, name="collections_app_priorityweights_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change form's values (not saved) -> how each queue's order would change. A small page that
        the change form shows in a frame."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id)
        if obj is None:
            return HttpResponse(status=404)
        if not self.has_change_permission(request, obj):
            return HttpResponse(status=403)
        form = self.get_form(request, obj)(request.POST, instance=obj)
        context = {"form": form, "changes": None, "top": PREVIEW_TOP}
        if form.is_valid():
            # form.instance has the posted values and is not saved.
            proposed = queues.Weights.of(form.instance)
            context["current"] = queues.priority_weights(fresh=True)
            context["proposed"] = proposed
            context["changes"] = queues.priority_preview(proposed, top=PREVIEW_TOP)
        return render(request, "admin/collections_app/priorityweights/preview.html", context)
