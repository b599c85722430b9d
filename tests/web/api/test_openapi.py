"""The OpenAPI document matches the routes, and property-based fuzzing from it: requests
generated from its schemas (valid ones and mangled ones) never get a server error, every
refusal is a JSON error, and every access is in the ledger (SQLite and PostgreSQL).

Hypothesis builds the requests from the document itself (schemathesis is not in the locked
set; the few JSON Schema keywords the document uses are turned into strategies here).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.support.api import bearer, make_token, marac_referral
from tests.support.paths import ROOT
from tests.support.staff_client import TestClient
from tests.support.staff_world import StaffWorld

from safereport.ledger.record import parse_leaf
from safereport.services import integrations
from safereport.services.integrations import Scope
from safereport.store.ledger import ledger_entries
from safereport.web.api import ErrorOut, create_api
from safereport.web.app import create_app

API = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")
#: Operations that open or write case data: a success is always a ledger entry of the caller.
TOUCHES_CASES = {("post", "/reports"), ("post", "/third-party-reports"),
                 ("get", "/inbox/{request_id}"), ("post", "/disclosures")}
#: Lookups by id: "not found" is a refusal on record (someone else's, or nothing at all).
LOOKUPS = {("get", "/inbox/{request_id}"), ("get", "/disclosures/{request_id}"),
           ("get", "/disclosure-asks/{ask_id}"), ("get", "/ledger/entries/{index}/proof")}


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items()
            for method, op in item.items() if method in METHODS]


# ---- the document matches the routes ----------------------------------------------------------


def test_the_document_lists_exactly_the_routes_and_how_they_refuse(
    sqlite_world: StaffWorld,
) -> None:
    api = create_api(sqlite_world.instance)
    document = _document(TestClient(create_app(sqlite_world.instance)))
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": API}] or "servers" not in document
    routes = {(method.lower(), route.path) for route in api.routes
              if isinstance(route, APIRoute) for method in route.methods}
    documented = {(method, path) for method, path, _ in _operations(document)}
    assert documented == routes
    assert len(routes) == 12
    error = document["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "message"}
    assert ErrorOut.model_json_schema()["required"] == ["error", "message"]
    for method, path, op in _operations(document):
        assert op["security"] == [{"HTTPBearer": []}], (method, path)
        for status in ("401", "403", "413", "422", "429"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
        if "{" in path:
            assert "404" in op["responses"], (method, path)
        success = [s for s in op["responses"] if s.startswith("2")]
        assert len(success) == 1, (method, path)
    # The report body is the submission schema `safereport report schema` prints.
    from safereport.services.intake import SUBMISSION_SCHEMA

    report = document["paths"]["/reports"]["post"]["requestBody"]["content"]
    assert report["application/json"]["schema"] == SUBMISSION_SCHEMA["$defs"]["submission"]
    # Every scope is used by some route, and docs/api.md names every route and scope.

    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for method, path, _ in _operations(document):
        assert f"{method.upper()} {API}{path}" in doc, (method, path)
    for scope in Scope:
        assert f"`{scope.value}`" in doc, scope


# ---- strategies from the document --------------------------------------------------------------


class _Schemas:
    def __init__(self, document: dict[str, Any], known_ids: list[str]) -> None:
        self.document = document
        self.known_ids = known_ids

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.document["components"]["schemas"][name]
        return schema

    def strategy(self, schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return st.one_of([self.strategy(s, name, depth) for s in schema[key]])
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self.strategy({**schema, "type": k}, name, depth) for k in kind])
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "array":
            items = self.strategy(schema.get("items", {}), name, depth + 1)
            low = schema.get("minItems", 0)
            return st.lists(items, min_size=low, max_size=min(schema.get("maxItems", 4), low + 4))
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth)
        return _any_json()

    def _string(self, schema: dict[str, Any], name: str) -> Any:
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 80), 80)
        if "pattern" in schema:
            made = st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda v: low <= len(v) <= schema.get("maxLength", 10**6))
        else:  # readable text (the API refuses control characters: the mangled bodies try them)
            made = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=low,
                           max_size=max(low, high))
        if name.endswith("_id") and self.known_ids:
            return st.one_of(st.sampled_from(self.known_ids), made)
        return made

    def _object(self, schema: dict[str, Any], depth: int) -> Any:
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {k: self.strategy(v, k, depth + 1) for k, v in properties.items()
                 if k in required}
        optional = {k: self.strategy(v, k, depth + 1) for k, v in properties.items()
                    if k not in required}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not properties:
            keys = (st.sampled_from(schema["propertyNames"]["enum"])
                    if "enum" in schema.get("propertyNames", {}) else st.text(max_size=12))
            return st.dictionaries(keys, self.strategy(extra, "", depth + 1), max_size=4)
        return st.fixed_dictionaries(fixed, optional=optional)


def _any_json() -> Any:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                       st.floats(allow_nan=False, allow_infinity=False))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
        max_leaves=8)


def _mangled(valid: Any) -> Any:
    """A valid body with one thing wrong: a field dropped, a value replaced, a stray key."""
    def mangle(data: tuple[Any, Any, str, Any]) -> Any:
        body, mode, key, value = data
        if not isinstance(body, dict):
            return value
        body = dict(body)
        if mode == "drop" and body:
            body.pop(sorted(body)[0])
        elif mode == "replace" and body:
            body[sorted(body)[hash(key) % len(body)]] = value
        else:
            body[key] = value
        return body
    return st.tuples(valid, st.sampled_from(["drop", "replace", "add"]),
                     st.text(min_size=1, max_size=10), _any_json()).map(mangle)


# ---- the fuzz ----------------------------------------------------------------------------------


def _ledger_after(world: StaffWorld, before: int) -> list[dict[str, Any]]:
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(ledger_entries.c.leaf).where(ledger_entries.c.idx >= before)
                            .order_by(ledger_entries.c.idx)).all()
    return [parse_leaf(bytes(r.leaf)) for r in rows]


def _size(world: StaffWorld) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one())


def _check(response: Any, method: str, path: str, op: dict[str, Any], world: StaffWorld,
           before: int, caller: str | None) -> None:
    status = response.status_code
    assert status < 500, (method, path, status, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    documented = op["responses"]
    assert str(status) in documented or status in (400, 404, 405, 410, 503), (path, status)
    if status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), str)
        assert isinstance(body.get("message"), str) and body["message"]
        assert "<html" not in response.text.lower()
    new = _ledger_after(world, before)
    mine = [e for e in new if caller is not None and caller in (
        e["actor"]["id"], e["detail"].get("via"), e["detail"].get("opened_by"))]
    if status == 403:  # a scope or the policy said no: on record, as a denial of the caller
        assert any(e["decision"] == "deny" for e in mine), (path, body, new)
    if status < 300 and (method, path) in TOUCHES_CASES:
        assert mine, (path, body)
    if status == 404 and (method, path) in LOOKUPS:
        assert any(e["decision"] == "deny" for e in mine), (path, body, new)
    for entry in mine:  # no person decided what it asked (an opened package stays the
        # holder's decision, re-decided now: its actor is the person who disclosed it)
        if entry["detail"].get("opened_by") != caller:
            assert entry["detail"].get("automated") == "true", entry


def _fuzz(world: StaffWorld, examples: int) -> dict[tuple[str, str, int], int]:
    client = TestClient(create_app(world.instance))
    document = _document(client)
    filed = world.file("cw")
    referral = marac_referral(world)[1]
    police = make_token(world, "force", scopes=tuple(s.value for s in Scope), rate=6000)
    centre = make_token(world, "centre", org="Safe Haven Support", role="caseworker",
                        scopes=tuple(s.value for s in Scope), rate=6000)
    narrow = make_token(world, "narrow", scopes=("inbox:read",), rate=6000)
    marac = make_token(world, "marac", org="Testtown MARAC", role="marac_member",
                       scopes=("inbox:read", "ledger:proof"), rate=6000)
    revoked = make_token(world, "revoked", rate=6000)
    integrations.revoke_token(world.instance, "revoked")
    callers = {secret: integrations.authenticate(world.instance, secret).actor_id
               for secret in (police, centre, narrow, marac)}
    known = [*world.orgs.values(), filed.case_id, referral, "0" * 32]
    opened = client.get(f"{API}/inbox/{referral}", headers=bearer(marac)).json()
    first_own = opened["ledger_index"]  # its opening is its own: opened_by names it
    schemas = _Schemas(document, known)
    operations = _operations(document)

    @st.composite
    def requests(draw: Any) -> tuple[str, str, dict[str, Any], str | None, Any]:
        method, path, op = draw(st.sampled_from(operations))
        url = path
        query: dict[str, Any] = {}
        for parameter in op.get("parameters", []):
            value = draw(schemas.strategy(parameter["schema"], parameter["name"]))
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", quote(str(value), safe=""))
            elif draw(st.booleans()):
                query[parameter["name"]] = value
        body = None
        if "requestBody" in op:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            valid = schemas.strategy(schema)
            body = draw(st.one_of(valid, valid, _mangled(valid), _any_json()))
        secret = draw(st.sampled_from([police, police, centre, centre, marac, narrow, revoked,
                                       None]))
        return method, path, {"url": url, "query": query}, secret, body

    seen: dict[tuple[str, str, int], int] = {}

    def at(method: str, path: str, url: str, secret: str, body: Any = None) -> Any:
        return example((method, path, {"url": url, "query": {}}, secret, body))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(requests())
    # The roads that succeed, whatever the draw: each is checked like every generated request.
    @at("get", "/inbox/{request_id}", f"/inbox/{referral}", marac)
    @at("post", "/disclosures", "/disclosures", centre, {
        "case_id": filed.case_id, "recipient_org_id": world.orgs["marac"], "purpose": "marac",
        "categories": ["identity"], "justification": "High risk."})
    @at("post", "/third-party-reports", "/third-party-reports", centre, {
        "crime_type": "hate_crime", "fields": {"narrative": "Shouted at in the street."}})
    @at("post", "/reports", "/reports", police, {
        "mode": "codename", "crime_type": "stalking_harassment", "narrative": "Followed."})
    @at("get", "/ledger/entries/{index}/proof", f"/ledger/entries/{first_own}/proof", marac)
    def run(request: tuple[str, str, dict[str, Any], str | None, Any]) -> None:
        method, path, where, secret, body = request
        before = _size(world)
        headers = bearer(secret) if secret else {}
        kwargs: dict[str, Any] = {"headers": headers, "params": where["query"]}
        if body is not None or method == "post":
            kwargs["content"] = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        response = client.request(method.upper(), API + where["url"], **kwargs)
        op = document["paths"][path][method]
        event(f"{method.upper()} {path} -> {response.status_code}")
        seen[(method, path, response.status_code)] = seen.get(
            (method, path, response.status_code), 0) + 1
        _check(response, method, path, op, world, before, callers.get(secret or ""))

    run()
    for key in sorted(seen):
        print("fuzz", *key, seen[key])
    succeeded = {(method, path) for method, path, status in seen if status < 300}
    assert succeeded >= TOUCHES_CASES | {("get", "/ledger/entries/{index}/proof")}
    return seen


def test_fuzzing_from_the_document_sqlite(sqlite_world: StaffWorld) -> None:
    _fuzz(sqlite_world, 300)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_fuzzing_from_the_document_postgres(world: StaffWorld) -> None:
    _fuzz(world, 60)


def test_the_checks_fail_on_a_page_or_a_server_error() -> None:
    """The fuzz's checks are not vacuous: a 500, an HTML page or a bare error body fail them."""
    class Fake:
        def __init__(self, status: int, text: str, kind: str) -> None:
            self.status_code, self.text = status, text
            self.headers = {"content-type": kind}

        def json(self) -> Any:
            return json.loads(self.text)

    op = {"responses": {"200": {}, "401": {}, "403": {}, "413": {}, "422": {}, "429": {}}}
    for fake in (Fake(500, '{"error": "internal_error", "message": "x"}', "application/json"),
                 Fake(404, "<html></html>", "text/html"),
                 Fake(401, '{"detail": "no"}', "application/json")):
        with pytest.raises(AssertionError):
            _check(fake, "get", "/inbox", op, None, 0, None)  # type: ignore[arg-type]
