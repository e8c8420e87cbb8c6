"""API tokens from the dashboard (admins): list, create (the secret in the answer, once),
revoke. The same storage functions as ``sitelink token``; every change goes to the audit log,
without the secret. Handlers run on the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import Meta

from sitelink.api import answers as answer
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN, forget_cached_identities
from sitelink.runtime import Runtime
from sitelink.storage import tokens as token_store
from sitelink.times import iso_time

TokenName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.@-]{1,64}$",
                                description="letters, digits, _ . @ -; 1 to 64")]


PathName = Annotated[str, PathParameter(min_length=1, max_length=64)]


class TokenCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: TokenName
    role: Literal["admin", "viewer"] = "viewer"


def token_json(info: token_store.TokenInfo) -> answer.TokenInfo:
    return answer.TokenInfo(name=info.name, role=info.role,
                            created_at=iso_time(info.created_at),
                            last_used_at=iso_time(info.last_used_at))


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["auth"]
    opt = ADMIN

    @get("/")
    async def list_tokens(self, runtime: NamedDependency[Runtime]) -> answer.TokenList:
        """Tokens that still work, by name (revoked ones are gone for good; never a hash)."""
        infos = await token_store.list_tokens(runtime.db)
        return answer.TokenList(tokens=[token_json(t) for t in infos if not t.revoked])

    @post("/", status_code=HTTP_201_CREATED)
    async def create_token(self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
                           data: JSONBody[TokenCreate]) -> answer.NewToken:
        """A new token; its secret is in this answer and nowhere else. 409 if the name is
        taken (by a revoked token too)."""
        plaintext = await token_store.create_token(runtime.db, data.name, data.role)
        info = next(t for t in await token_store.list_tokens(runtime.db) if t.name == data.name)
        await record(request, "token.create", target=data.name, detail={"role": data.role})
        return answer.NewToken(**msgspec.structs.asdict(token_json(info)), token=plaintext)

    @delete("/{name:str}", status_code=HTTP_204_NO_CONTENT)
    async def revoke_token(self, request: Request[Any, Any, Any],
                           runtime: NamedDependency[Runtime],
                           name: PathName) -> None:
        """Revoke for good; its sessions stop working at their next request. 404 if unknown."""
        await token_store.revoke_token(runtime.db, name)
        # Identities are cached for a few seconds: a revoked token must stop working now.
        forget_cached_identities()
        request.app.state.stream_access.recheck()  # its streams, and its sessions' streams, end
        await record(request, "token.revoke", target=name, detail={})
