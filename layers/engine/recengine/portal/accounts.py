"""Portal accounts in the Cognito user pool: the only code that calls cognito-idp. The e-mail is the
username, `custom:tenant_id` binds the account to its tenant, groups `admin` / `user` give its role;
passwords and tokens never leave Cognito except as the tokens it issues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.clients import LazyClient
from ..errors import ConflictError, InvalidArgumentError, StoreError, UnauthorizedError
from .tokens import ADMIN_GROUP, TENANT_CLAIM, USER_GROUP


@dataclass(frozen=True)
class Account:
    id: str  # Cognito's `sub`: stable, never the e-mail
    email: str
    name: str
    tenant_id: str
    group: str
    enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class Tokens:
    id_token: str  # the bearer token of every portal call (what API Gateway's Cognito authorizers take)
    access_token: str
    refresh_token: str | None
    expires_in: int


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "Unknown")


class CognitoAccounts:
    idp = LazyClient("cognito-idp")

    def __init__(self, user_pool_id: str, client_id: str, idp: Any = None):
        self.user_pool_id, self.client_id = user_pool_id, client_id
        self._idp = idp

    def create_account(self, email: str, name: str, password: str, tenant_id: str, group: str) -> Account:
        """A confirmed account with a permanent password, in its group; ConflictError if the e-mail is taken."""
        if group not in (ADMIN_GROUP, USER_GROUP):
            raise ValueError(f"unknown portal group {group!r}")
        try:
            self.idp.admin_create_user(
                UserPoolId=self.user_pool_id, Username=email, MessageAction="SUPPRESS",
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"},
                                {"Name": "name", "Value": name}, {"Name": TENANT_CLAIM, "Value": tenant_id}])
        except ClientError as exc:
            if _code(exc) == "UsernameExistsException":
                raise ConflictError("an account with this e-mail already exists") from exc
            if _code(exc) == "InvalidParameterException":  # a value the pool does not take (its own checks)
                raise InvalidArgumentError("the user pool refuses this e-mail or name") from exc
            raise _failed("admin_create_user", exc) from exc
        except BotoCoreError as exc:
            raise StoreError(f"admin_create_user failed ({type(exc).__name__})") from exc
        try:
            self.idp.admin_set_user_password(UserPoolId=self.user_pool_id, Username=email, Password=password,
                                             Permanent=True)
            self.idp.admin_add_user_to_group(UserPoolId=self.user_pool_id, Username=email, GroupName=group)
        except (ClientError, BotoCoreError) as exc:
            # Never leave a half-made account (no password or no group) behind.
            self._delete_quietly(email)
            if isinstance(exc, ClientError) and _code(exc) == "InvalidPasswordException":
                raise InvalidArgumentError("the password does not meet the pool's password policy") from exc
            raise _failed("admin_set_user_password", exc) from exc
        return self.get_account(email)

    def _delete_quietly(self, email: str) -> None:
        try:
            self.idp.admin_delete_user(UserPoolId=self.user_pool_id, Username=email)
        except (ClientError, BotoCoreError):
            pass

    def get_account(self, email: str) -> Account:
        try:
            user = self.idp.admin_get_user(UserPoolId=self.user_pool_id, Username=email)
            groups = self.idp.admin_list_groups_for_user(UserPoolId=self.user_pool_id, Username=email)["Groups"]
        except ClientError as exc:
            if _code(exc) == "UserNotFoundException":
                raise UnauthorizedError("unknown account") from exc
            raise _failed("admin_get_user", exc) from exc
        except BotoCoreError as exc:
            raise StoreError(f"admin_get_user failed ({type(exc).__name__})") from exc
        attrs = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        names = {g["GroupName"] for g in groups}
        return Account(attrs.get("sub") or user["Username"], attrs.get("email", email), attrs.get("name", ""),
                       attrs.get(TENANT_CLAIM, ""), ADMIN_GROUP if ADMIN_GROUP in names else USER_GROUP,
                       bool(user.get("Enabled", True)), user["UserCreateDate"])

    def sign_in(self, email: str, password: str) -> Tokens:
        """Tokens for the e-mail and password; UnauthorizedError (never saying which was wrong) otherwise."""
        return self._auth("ADMIN_USER_PASSWORD_AUTH", {"USERNAME": email, "PASSWORD": password})

    def refresh(self, refresh_token: str) -> Tokens:
        tokens = self._auth("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh_token})
        return Tokens(tokens.id_token, tokens.access_token, tokens.refresh_token or refresh_token, tokens.expires_in)

    def _auth(self, flow: str, parameters: dict[str, str]) -> Tokens:
        try:
            out = self.idp.admin_initiate_auth(UserPoolId=self.user_pool_id, ClientId=self.client_id, AuthFlow=flow,
                                               AuthParameters=parameters)
        except ClientError as exc:
            if _code(exc) in ("NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException",
                              "PasswordResetRequiredException"):
                raise UnauthorizedError("the credentials are not valid") from exc
            raise _failed("admin_initiate_auth", exc) from exc
        except BotoCoreError as exc:
            raise StoreError(f"admin_initiate_auth failed ({type(exc).__name__})") from exc
        result = out.get("AuthenticationResult")
        if not result:  # a challenge (new password, MFA): the portal's accounts are made without one
            raise UnauthorizedError(f"the account must first answer the {out.get('ChallengeName')} challenge")
        return Tokens(result["IdToken"], result["AccessToken"], result.get("RefreshToken"), int(result["ExpiresIn"]))


def _failed(action: str, exc: ClientError | BotoCoreError) -> StoreError:
    code = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return StoreError(f"{action} failed ({code})")
