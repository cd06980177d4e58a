"""Metadata migrations and key handling on SQLite and on the local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from haina.store.meta import MetaStore
from haina.workspaces import (
    create_workspace,
    lookup_write_key,
    revoke_write_key,
    verify_api_token,
)

PG_URL = os.environ.get("HAINA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_available() -> str | None:
    try:
        engine = create_engine("postgresql+psycopg://" + PG_URL.removeprefix("postgresql://"))
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {PG_URL} is not reachable: {exc}"


@pytest.fixture(params=["sqlite", "postgres"])
def meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetaStore]:
    if request.param == "sqlite":
        store = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
        yield store
        store.close()
        return
    reason = _pg_available()
    if reason:
        if IN_CI:
            pytest.fail(reason)
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine("postgresql+psycopg://" + PG_URL.removeprefix("postgresql://"))
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = MetaStore(PG_URL + f"?options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.close()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_migrations_create_every_table(meta: MetaStore) -> None:
    tables = set(inspect(meta.engine).get_table_names())
    assert {
        "workspaces",
        "sources",
        "write_keys",
        "api_tokens",
        "tracking_plan_events",
        "alembic_version",
    } <= tables
    MetaStore(meta.url).close()  # running the migrations again is a no-op


def test_keys_and_tokens(meta: MetaStore) -> None:
    ws = create_workspace(meta, "店铺 A")
    info = lookup_write_key(meta, ws["write_key"])
    assert info is not None and info.workspace_id == ws["workspace_id"]
    assert info.settings.anonymise_ip is True
    token = verify_api_token(meta, ws["api_token"])
    assert token is not None and token.workspace_id == ws["workspace_id"]
    assert verify_api_token(meta, ws["api_token"] + "x") is None
    assert verify_api_token(meta, "hk_nope_nope") is None
    with meta.engine.connect() as c:
        stored = [r[0] for r in c.execute(text("SELECT token_hash FROM api_tokens"))]
    assert ws["api_token"] not in stored and len(stored) == 1
    revoke_write_key(meta, ws["write_key"])
    assert lookup_write_key(meta, ws["write_key"]) is None
    with pytest.raises(ValueError, match="exists already"):
        create_workspace(meta, "店铺 A")
