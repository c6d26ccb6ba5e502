"""The caller (`me/`) and API tokens: get one with a password, revoke one or all."""

from __future__ import annotations

from django.contrib.auth import authenticate, user_logged_in, user_logged_out
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from api import schema
from api import serializers as s
from api.throttling import AuthThrottle
from api.tokens import token_issue
from api.views.base import ApiView, valid_input


@extend_schema(tags=["me"])
class MeView(ApiView):
    @extend_schema(responses=s.MeSerializer, summary="The current user, role and capabilities")
    def get(self, request):
        return Response(s.MeSerializer(request.user).data)


@extend_schema(tags=["auth"])
class TokenCreateView(ApiView):
    """Exchange a username and password for an API token (hashed in the database, expiring after
    REST_KNOX["TOKEN_TTL"], revocable by logout or by an admin in the admin pages)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthThrottle]

    def get_authenticate_header(self, request):
        return "Token"

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={201: s.TokenSerializer},
        examples=schema.TOKEN_EXAMPLES,
        summary="Get a token",
        auth=[],
    )
    def post(self, request):
        data = valid_input(s.TokenRequestSerializer, request)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise AuthenticationFailed(_("Unable to log in with these credentials."))
        instance, token = token_issue(user=user)
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        body = {"token": token, "expiry": instance.expiry, "user": user}
        return Response(s.TokenSerializer(body).data, status=status.HTTP_201_CREATED)


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
