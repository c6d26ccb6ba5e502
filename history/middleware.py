"""Every change a web request makes carries its actor, its source (page, API or admin, by the URL) and
its request id; the response names the request id in X-Request-ID, so that a user's report ("it went
wrong at 10:42") and a supervisor's question ("who changed this?") meet on one id."""

from __future__ import annotations

from django.db import connection
from pghistory.middleware import HistoryMiddleware

from history.context import new_request_id, source_of_path

REQUEST_ID_HEADER = "X-Request-ID"


class ChangeContextMiddleware(HistoryMiddleware):
    """pghistory's middleware with the collections context. The user is read again when the API's
    authentication sets it later in the view (pghistory's request class does that)."""

    def get_context(self, request) -> dict:
        user = getattr(request, "user", None)
        user_id = (
            user._meta.pk.get_db_prep_value(user.pk, connection)
            if user is not None and user.is_authenticated
            else None
        )
        return {
            "user": user_id,
            "source": source_of_path(request.path),
            "request_id": request.request_id,
            "url": request.path,
        }

    def __call__(self, request):
        request.request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
        response = super().__call__(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response
