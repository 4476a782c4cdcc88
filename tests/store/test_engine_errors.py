"""A failed statement's error names the statement, never its parameters: they hold sealed secrets and
token hashes, and the request path logs the errors of failed writes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from regauth.store.open import create_store_engine

PARAMETER = "v1:sealed-secret-that-must-not-be-logged"


@pytest.mark.parametrize("backend", ["sqlite", "sqlite-memory",
                                     pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_failed_statement_s_error_leaves_its_parameters_out(backend, tmp_path, request):
    url = {"sqlite": f"sqlite:///{tmp_path}/e.db", "sqlite-memory": "sqlite://"}.get(backend)
    if url is None:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = create_store_engine(url)
    try:
        with pytest.raises(sa.exc.DBAPIError) as err, engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO no_such_table (secret) VALUES (:secret)"), {"secret": PARAMETER})
        assert "no_such_table" in str(err.value)
        assert PARAMETER not in str(err.value) and PARAMETER not in repr(err.value)
    finally:
        engine.dispose()
