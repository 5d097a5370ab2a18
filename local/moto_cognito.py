"""moto's cognito-idp answers an unknown refresh token with a KeyError (a 500) where Cognito answers
NotAuthorizedException ("Invalid Refresh Token"): patched here for the local stack and the tests, so
that `POST /auth/v1/token?grant_type=refresh_token` with a made-up token is the 401 it is in AWS."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def unknown_refresh_tokens_refused() -> Iterator[None]:
    from moto.cognitoidp.exceptions import NotAuthorizedError
    from moto.cognitoidp.models import CognitoIdpUserPool

    original = CognitoIdpUserPool.create_tokens_from_refresh_token

    def create_tokens_from_refresh_token(self, refresh_token: str):
        if refresh_token not in self.refresh_tokens:
            raise NotAuthorizedError("Invalid Refresh Token")
        return original(self, refresh_token)

    CognitoIdpUserPool.create_tokens_from_refresh_token = create_tokens_from_refresh_token
    try:
        yield
    finally:
        CognitoIdpUserPool.create_tokens_from_refresh_token = original
