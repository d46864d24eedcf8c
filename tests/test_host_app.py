"""The example host application (examples/host_app) through Starlette's TestClient, on SQLite and PostgreSQL.

On PostgreSQL tenantbill's tables live in a schema of their own (``billing``)
next to the host's ``host_users`` in ``public``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient

from support import fresh_postgres_database
from tenantbill.sql.schema import metadata

APP = Path(__file__).resolve().parent.parent / "examples" / "host_app" / "app.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tenantbill_example_host_app", APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


host = _load()


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    if request.param == "sqlite":
        with TestClient(host.create_app(f"sqlite:///{tmp_path / 'host.db'}")) as test_client:
            yield test_client
        return
    url = os.environ.get("TENANTBILL_PG_URL")
    if not url:
        pytest.skip("TENANTBILL_PG_URL is not set: run the suite with `python3 dev.py test`")
    with (
        fresh_postgres_database(url) as database,
        TestClient(host.create_app(database, schema="billing")) as test_client,
    ):
        yield test_client


def _sign_up(client: TestClient, name: str, email: str) -> dict[str, Any]:
    response = client.post("/signup", json={"name": name, "email": email})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _as(user: dict[str, Any]) -> dict[str, str]:
    return {"X-User": str(user["user_id"])}


DRAFT = {
    "customer": "Kunde AS",
    "lines": [{"description": "Support", "quantity": "2", "unit_price": "950.00", "vat_rate": "0.25"}],
}


def test_sign_up_makes_both_users_in_one_transaction(client: TestClient) -> None:
    ola = _sign_up(client, "Acme AS", "ola@acme.example")
    assert client.get("/accounts", headers=_as(ola)).json() == [{"id": ola["account_id"], "name": "Acme AS"}]
    # The same address again: refused, and neither side keeps a half of it.
    again = client.post("/signup", json={"name": "Acme AS", "email": "OLA@acme.example"})
    assert again.status_code == 409
    engine: sa.Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM host_users")).scalar() == 1


def test_a_refused_tenantbill_sign_up_leaves_no_host_user(client: TestClient) -> None:
    """tenantbill refuses (a name it will not take): the host's row, inserted first, is rolled back too."""
    response = client.post("/signup", json={"name": "x" * 1000, "email": "kari@acme.example"})
    assert response.status_code == 422
    engine: sa.Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM host_users")).scalar() == 0
    _sign_up(client, "Kari AS", "kari@acme.example")  # and the address is free


def test_issue_with_an_idempotency_key_and_list(client: TestClient) -> None:
    ola = _sign_up(client, "Acme AS", "ola@acme.example")
    path = f"/accounts/{ola['account_id']}/invoices"
    headers = {**_as(ola), "Idempotency-Key": "order-7"}
    first = client.post(path, json=DRAFT, headers=headers)
    retry = client.post(path, json=DRAFT, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert first.json()["number"] == "1"
    assert first.json()["total"] == "2375.00"
    other = client.post(path, json={**DRAFT, "customer": "Annen AS"}, headers=headers)
    assert other.status_code == 409  # the same key with another draft
    second = client.post(path, json=DRAFT, headers=_as(ola))
    assert second.json()["number"] == "2"
    listed = client.get(path, headers=_as(ola)).json()
    assert [i["number"] for i in listed] == ["1", "2"]


def test_only_members_see_and_issue(client: TestClient) -> None:
    ola = _sign_up(client, "Acme AS", "ola@acme.example")
    kari = _sign_up(client, "Kari AS", "kari@other.example")
    path = f"/accounts/{ola['account_id']}/invoices"
    assert client.post(path, json=DRAFT, headers=_as(kari)).status_code == 403
    assert client.get(path, headers=_as(kari)).status_code == 403
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"X-User": "999"}).status_code == 401


def test_accept_an_invitation(client: TestClient) -> None:
    ola = _sign_up(client, "Acme AS", "ola@acme.example")
    kari = _sign_up(client, "Kari AS", "kari@other.example")
    invitations = f"/accounts/{ola['account_id']}/invitations"
    # A signed-in user accepts with their own account.
    issued = client.post(
        invitations, json={"email": "kari@other.example", "role": "billing"}, headers=_as(ola)
    )
    assert issued.status_code == 201
    accepted = client.post(f"/invitations/{issued.json()['token']}/accept", headers=_as(kari))
    assert accepted.json() == {"account_id": ola["account_id"], "role": "billing"}
    assert {a["name"] for a in client.get("/accounts", headers=_as(kari)).json()} == {"Acme AS", "Kari AS"}
    # A new visitor accepts by signing up: the host's user and the membership in one transaction.
    token = client.post(invitations, json={"email": "per@acme.example"}, headers=_as(ola)).json()["token"]
    joined = client.post(f"/invitations/{token}/accept", json={"name": "Per", "email": "per@acme.example"})
    assert joined.status_code == 200, joined.text
    per = joined.json()
    assert client.get("/accounts", headers=_as(per)).json() == [{"id": ola["account_id"], "name": "Acme AS"}]
    # Used once: a second visitor with the same link gets nothing, and no host user is left behind.
    again = client.post(f"/invitations/{token}/accept", json={"name": "Eve", "email": "eve@acme.example"})
    assert again.status_code == 410
    engine: sa.Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        emails = set(connection.execute(sa.text("SELECT email FROM host_users")).scalars())
    assert "eve@acme.example" not in emails


def test_tenantbill_tables_are_where_they_were_put(client: TestClient) -> None:
    engine: sa.Engine = client.app.state.engine  # type: ignore[attr-defined]
    inspector = sa.inspect(engine)
    schema = "billing" if engine.dialect.name == "postgresql" else None
    assert set(metadata.tables) <= set(inspector.get_table_names(schema=schema))
    assert "host_users" in inspector.get_table_names()
