"""The API's JSON parser: DRF's, with a limit on how deep a body may nest and how big it may be.

Python's `json` module recurses once per level: ten thousand nested lists (a body anyone can send, even
without a token) end in a RecursionError, a 500. No request of ours nests deeper than a few levels, so a
body deeper than `API_JSON_MAX_DEPTH` is refused (400) before anything else reads it. DRF reads the
body from the stream, past Django's `DATA_UPLOAD_MAX_MEMORY_SIZE`, so the size is capped here too
(`API_JSON_MAX_BYTES`, 413)."""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def json_depth_exceeds(data, limit: int) -> bool:
    """True if `data` (parsed JSON) nests lists/objects deeper than `limit`; iterative, so that the
    check itself cannot overflow the stack."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        max_bytes = settings.API_JSON_MAX_BYTES
        max_depth = settings.API_JSON_MAX_DEPTH
        raw = stream.read(max_bytes + 1) if stream is not None else b""
        if len(raw) > max_bytes:
            raise PayloadTooLarge(
                _("The request body is larger than %(limit)s bytes.") % {"limit": max_bytes}
            )
        try:
            data = json.loads(codecs.decode(raw, encoding), parse_constant=self._refuse_constant)
        except RecursionError:
            too_deep = True
        except ValueError as exc:
            raise exceptions.ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
        else:
            too_deep = json_depth_exceeds(data, max_depth)
        if too_deep:
            raise exceptions.ParseError(
                _("The JSON body nests deeper than %(limit)s levels.") % {"limit": max_depth}
            )
        return data

    @staticmethod
    def _refuse_constant(name):
        # NaN and Infinity are not JSON (DRF's own parser refuses them too when strict).
        raise ValueError(f"{name} is not valid JSON")
