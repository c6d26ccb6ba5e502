"""The caller (`me/`) and API tokens: get one with a password, revoke one or all."""

from __future__ import annotations

from django.contrib.auth import authenticate, user_logged_in, user_logged_out
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, AuthenticationFailed, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts import two_factor
from accounts.lockout import is_locked_out, lockout_message, lockout_minutes
from api import schema
from api import serializers as s
from api.throttling import AuthThrottle
from api.tokens import token_issue
from api.views.base import ApiView, valid_input


class LockedOut(APIException):
    """Too many failed sign-ins for this username or from this address (django-axes, accounts.lockout):
    429 with code `locked_out` and, unless an admin must unlock it, Retry-After (the whole lockout)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self):
        super().__init__(lockout_message(), self.default_code)
        minutes = lockout_minutes()
        self.wait = minutes * 60 if minutes else None


class SecondFactorRequired(AuthenticationFailed):
    """The password was right, but this role must also give a code (accounts.two_factor): 401 with
    code `otp_required` when `otp` is missing, `otp_invalid` when it is wrong or came too soon after a
    wrong one. A wrong code counts towards the lockout like a wrong password."""

    default_code = "otp_required"


class SecondFactorNotSetUp(PermissionDenied):
    """This role must give a code but has no authenticator yet: it is set up on the web pages."""

    default_code = "otp_not_set_up"


class TokenRequestSerializer(s.TokenRequestSerializer):
    otp = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="The code from the authenticator app, or a recovery code: required for the roles that "
        "sign in with a second factor (supervisors, legal reviewers and admins by default).",
    )


@extend_schema(tags=["me"])
class MeView(ApiView):
    @extend_schema(responses=s.MeSerializer, summary="The current user, role and capabilities")
    def get(self, request):
        return Response(s.MeSerializer(request.user).data)


@extend_schema(tags=["auth"])
class TokenCreateView(ApiView):
    """Exchange a username and password for an API token (hashed in the database, expiring after
    REST_KNOX["TOKEN_TTL"], revocable by logout or by an admin in the admin pages). Failures count towards
    the same sign-in lockout as the login page: once locked out, 429 with code `locked_out`.

    Where the bank requires a second factor (supervisors, legal reviewers and admins by default), these
    roles send `otp` too, the code from their authenticator app or a recovery code: without it 401
    `otp_required`, a wrong one 401 `otp_invalid` (counted towards the lockout). A user who has not set
    up an authenticator yet (on the web pages, at their first sign-in there) gets no token: 403
    `otp_not_set_up`."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthThrottle]

    def get_authenticate_header(self, request):
        return "Token"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={201: s.TokenSerializer},
        examples=schema.TOKEN_EXAMPLES,
        summary="Get a token",
        auth=[],
    )
    def post(self, request):
        data = valid_input(TokenRequestSerializer, request)
        # Django's request, which axes counts by (accounts.lockout) and flags when it locks out.
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None and is_locked_out(request._request):
            raise LockedOut()
        if user is None or not user.is_active:
            raise AuthenticationFailed(_("Unable to log in with these credentials."))
        if two_factor.two_factor_required(user):
            self._check_second_factor(request, user, data.get("otp", ""))
        instance, token = token_issue(user=user)
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        body = {"token": token, "expiry": instance.expiry, "user": user}
        return Response(s.TokenSerializer(body).data, status=status.HTTP_201_CREATED)

    def _check_second_factor(self, request, user, code: str) -> None:
        if two_factor.authenticator_of(user) is None:
            raise SecondFactorNotSetUp(
                _("Your role needs a second factor: sign in on the web pages once to set it up.")
            )
        if not code.strip():
            raise SecondFactorRequired(
                _("Your role needs a second factor: send the code from your authenticator app as otp.")
            )
        check = two_factor.second_factor_check(user=user, code=code)
        if check.accepted:
            return
        if not check.throttled and two_factor.second_factor_failed(request=request._request, user=user):
            raise LockedOut()
        raise SecondFactorRequired(_("That code is not right."), code="otp_invalid")


@extend_schema(tags=["auth"])
class TokenLogoutView(ApiView):
    authentication_classes = [TokenAuthentication]

    @extend_schema(request=None, responses={204: None}, summary="Revoke the token of this request")
    def post(self, request):
        request.auth.delete()
        user_logged_out.send(sender=request.user.__class__, request=request._request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class TokenLogoutAllView(ApiView):
    authentication_classes = [TokenAuthentication]

    @extend_schema(request=None, responses={204: None}, summary="Revoke every token of this user")
    def post(self, request):
        AuthToken.objects.filter(user=request.user).delete()
        user_logged_out.send(sender=request.user.__class__, request=request._request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
