"""JWTs for people: obtain (with django-axes watching the attempt) and refresh (rotated).

Every token carries simplejwt's revoke claim (a hash of the user's password hash,
``CHECK_REVOKE_TOKEN``), so changing a password ends every access and refresh token
issued before it; a deactivated user's tokens fail simplejwt's ``is_active`` check.
A refresh token is good once: refreshing returns a new one and blacklists the old
(``ROTATE_REFRESH_TOKENS`` + ``BLACKLIST_AFTER_ROTATION``, simplejwt's blacklist app).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model, user_logged_in
from rest_framework import exceptions
from rest_framework_simplejwt import serializers
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password


class TokenObtainPairSerializer(serializers.TokenObtainPairSerializer):
    def validate(self, attrs):
        request = self.context.get("request")
        # Axes marks a lockout on the request its middleware answers from, Django's; DRF's
        # wrapper would keep the mark to itself and the lockout would read as a plain 401.
        django_request = self.context["request"] = getattr(request, "_request", request)
        data = super().validate(attrs)
        # Obtaining a token is a login: axes resets the failure count, Django sets last_login.
        user_logged_in.send(sender=type(self.user), request=django_request, user=self.user)
        return data


class TokenRefreshSerializer(serializers.TokenRefreshSerializer):
    default_error_messages = {
        **serializers.TokenRefreshSerializer.default_error_messages,
        "password_changed": "The password was changed after this token was issued; log in again.",
    }

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        user = get_user_model().objects.filter(
            **{api_settings.USER_ID_FIELD: refresh.payload.get(api_settings.USER_ID_CLAIM)}
        ).first()
        if user is None:  # simplejwt's own lookup would raise DoesNotExist: a 500
            raise exceptions.AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account")
        # simplejwt checks the revoke claim on access tokens only; refreshing must not mint
        # new ones from a refresh token issued before a password change.
        if refresh.payload.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise exceptions.AuthenticationFailed(self.error_messages["password_changed"], "password_changed")
        return super().validate(attrs)
