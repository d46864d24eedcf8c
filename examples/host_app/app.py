"""A small host application embedding tenantbill: Starlette, its own users table, one database.

Run it (SQLite file, or a PostgreSQL URL and a schema for tenantbill's tables)::

    pip install 'tenantbill[example]' uvicorn
    HOST_DATABASE_URL=sqlite:///host.db uvicorn app:app        # from examples/host_app/

What it shows:

- tenantbill on the host's own SQLAlchemy ``Engine`` (``SqlStore(engine)``),
  optionally in a PostgreSQL schema of its own (``schema="billing"``), with
  its tables migrated at start-up (``migrate.upgrade(engine, schema=...)``);
- sign-up that creates the host's user and tenantbill's user and account in
  **one** transaction (``app.within(connection)``): if either fails, neither
  exists;
- the other calls through :class:`tenantbill.aio.AsyncTenantbill`, so the event
  loop is never blocked: issuing with the client's ``Idempotency-Key``,
  listing invoices, inviting, and accepting an invitation (a new visitor
  accepts by signing up, again in one transaction with the host's user).

**Login is a stand-in**: the ``X-User`` header names the signed-in host user
by id. A real application puts its session or token check there
(:func:`signed_in`); tenantbill only ever sees the user id the login
established, never one taken from the request body.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import tenantbill as tb
from tenantbill.aio import AsyncTenantbill
from tenantbill.ports import Mailer
from tenantbill.sql import SqlStore, migrate

# The host's own table: its users, each linked to the tenantbill user made at sign-up.
host_metadata = sa.MetaData()
users = sa.Table(
    "host_users",
    host_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("tenantbill_user_id", sa.String(64), nullable=True, unique=True),
)

# What tenantbill's errors mean over HTTP.
STATUS: list[tuple[type[Exception], int]] = [
    (tb.PermissionDenied, 403),
    (tb.NotFound, 404),
    (tb.EmailTaken, 409),
    (tb.AlreadyMember, 409),
    (tb.IdempotencyConflict, 409),
    (tb.InvitationError, 410),
    (tb.InvalidInput, 422),
    (tb.TenantbillError, 400),
]


class HttpError(Exception):
    """An error answered as ``{"error": message}`` with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(database_url: str, *, schema: str | None = None, mailer: Mailer | None = None) -> Starlette:
    """The host application on ``database_url``; tenantbill's tables in ``schema`` (PostgreSQL) if given."""
    engine = sa.create_engine(database_url)
    billing = AsyncTenantbill(store=SqlStore(engine, schema=schema), mailer=mailer)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        def migrate_all() -> None:
            host_metadata.create_all(engine)  # the host's own migrations would run here
            migrate.upgrade(engine, schema=schema)  # tenantbill's tables, on the host's engine

        await run_in_threadpool(migrate_all)
        yield
        billing.close()
        billing.sync.store.close()  # type: ignore[attr-defined]  # leaves the host's engine open
        engine.dispose()

    def signed_in(request: Request) -> dict[str, Any]:
        """The signed-in host user. A STAND-IN for a real login: trusts the ``X-User`` header (a user id)."""
        header = request.headers.get("X-User", "")
        if not header.isdigit():
            raise HttpError(401, "sign in first (the example's stand-in login: an X-User header)")
        with engine.connect() as connection:
            row = connection.execute(sa.select(users).where(users.c.id == int(header))).mappings().first()
        if row is None or row["tenantbill_user_id"] is None:
            raise HttpError(401, "unknown user")
        return dict(row)

    async def actor(request: Request) -> str:
        """The tenantbill user id of the signed-in host user."""
        user = await run_in_threadpool(signed_in, request)
        return str(user["tenantbill_user_id"])

    # ------------------------------------------------------------------ endpoints

    async def sign_up(request: Request) -> Response:
        body = await _json(request)
        name, email = _text(body, "name"), _text(body, "email")

        def in_one_transaction() -> dict[str, Any]:
            # The host's row and tenantbill's user and account: both commit, or neither.
            with engine.begin() as connection:
                host_id = connection.execute(
                    users.insert().values(email=email.lower(), name=name).returning(users.c.id)
                ).scalar_one()
                user, account = billing.sync.within(connection).accounts.sign_up(name=name, email=email)
                connection.execute(
                    users.update().where(users.c.id == host_id).values(tenantbill_user_id=user.id)
                )
            return {"user_id": host_id, "account_id": account.id}

        try:
            created = await run_in_threadpool(in_one_transaction)
        except sa.exc.IntegrityError:
            raise HttpError(409, "that e-mail address has an account already") from None
        return JSONResponse(created, status_code=201)

    async def accounts(request: Request) -> Response:
        mine = await billing.accounts.of_user(await actor(request))
        return JSONResponse([{"id": a.id, "name": a.name} for a in mine])

    async def issue(request: Request) -> Response:
        actor_id = await actor(request)
        draft = _draft(await _json(request))
        key = request.headers.get("Idempotency-Key")  # a retried request returns the first invoice
        invoice = await billing.invoices.issue(
            actor_id, request.path_params["account_id"], draft, idempotency_key=key
        )
        return JSONResponse(_invoice(invoice), status_code=201)

    async def list_invoices(request: Request) -> Response:
        found = await billing.invoices.of_account(await actor(request), request.path_params["account_id"])
        return JSONResponse([_invoice(invoice) for invoice in found])

    async def invite(request: Request) -> Response:
        actor_id = await actor(request)
        body = await _json(request)
        try:
            role = tb.Role(body.get("role", "member"))
        except ValueError:
            raise HttpError(422, "role is one of owner, member, billing") from None
        issued = await billing.access.invite(
            actor_id, request.path_params["account_id"], email=_text(body, "email"), role=role
        )
        # The token travels in the invitation e-mail; the example also returns it to keep the demo short.
        return JSONResponse({"invitation_id": issued.invitation.id, "token": issued.token}, status_code=201)

    async def accept(request: Request) -> Response:
        token = request.path_params["token"]
        if "X-User" in request.headers:  # a signed-in user joins with their own account
            membership = await billing.access.accept(token, user_id=await actor(request))
            return JSONResponse(_membership(membership))
        # A new visitor: the host's user and the membership (with tenantbill's user) in one transaction.
        body = await _json(request)
        name, email = _text(body, "name"), _text(body, "email")

        def in_one_transaction() -> dict[str, Any]:
            with engine.begin() as connection:
                host_id = connection.execute(
                    users.insert().values(email=email.lower(), name=name).returning(users.c.id)
                ).scalar_one()
                new_user = tb.NewUser(name=name, email=email)
                membership = billing.sync.within(connection).access.accept(token, new_user=new_user)
                connection.execute(
                    users.update().where(users.c.id == host_id).values(tenantbill_user_id=membership.user_id)
                )
            return {**_membership(membership), "user_id": host_id}

        try:
            return JSONResponse(await run_in_threadpool(in_one_transaction))
        except sa.exc.IntegrityError:
            raise HttpError(409, "that e-mail address has an account already: sign in to accept") from None

    routes = [
        Route("/signup", _answering(sign_up), methods=["POST"]),
        Route("/accounts", _answering(accounts)),
        Route("/accounts/{account_id}/invoices", _answering(issue), methods=["POST"]),
        Route("/accounts/{account_id}/invoices", _answering(list_invoices), methods=["GET"]),
        Route("/accounts/{account_id}/invitations", _answering(invite), methods=["POST"]),
        Route("/invitations/{token}/accept", _answering(accept), methods=["POST"]),
    ]
    application = Starlette(routes=routes, lifespan=lifespan)
    application.state.billing = billing
    application.state.engine = engine
    return application


def _answering(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """``endpoint``, with tenantbill's errors and the example's own answered as JSON."""

    async def answered(request: Request) -> Response:
        try:
            return await endpoint(request)
        except HttpError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        except tb.TenantbillError as error:
            status = next(code for kind, code in STATUS if isinstance(error, kind))
            return JSONResponse({"error": str(error)}, status_code=status)

    return answered


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HttpError(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise HttpError(422, f"{name} is required")
    return value.strip()


def _draft(body: dict[str, Any]) -> tb.InvoiceDraft:
    """An invoice draft from JSON; amounts are decimal strings (``"950.00"``), never floats."""
    try:
        lines = [
            tb.Line(
                description=_text(line, "description"),
                quantity=Decimal(str(line.get("quantity", "1"))),
                unit_price=Decimal(str(line["unit_price"])),
                vat_rate=Decimal(str(line.get("vat_rate", "0.25"))),
            )
            for line in body.get("lines", [])
        ]
    except (KeyError, TypeError, AttributeError, InvalidOperation):
        raise HttpError(422, "each line needs a description and a unit_price (decimal strings)") from None
    return tb.InvoiceDraft(bill_to=tb.Party(name=_text(body, "customer")), lines=lines)


def _invoice(invoice: tb.Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "customer": invoice.bill_to.name,
        "total": str(invoice.total),
        "amount_due": str(invoice.amount_due),
    }


def _membership(membership: tb.Membership) -> dict[str, Any]:
    return {"account_id": membership.account_id, "role": membership.role.value}


# For `uvicorn app:app`: HOST_DATABASE_URL and, on PostgreSQL, TENANTBILL_SCHEMA.
if os.environ.get("HOST_DATABASE_URL"):
    app = create_app(os.environ["HOST_DATABASE_URL"], schema=os.environ.get("TENANTBILL_SCHEMA") or None)
