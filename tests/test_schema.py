"""The OpenAPI schema and its docs: valid, complete, and true to what the service sends."""

import copy
import re
from typing import Any

import jsonschema
import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from model_bakery import baker
from rest_framework.test import APIClient

from tests.ai_assist.sse_client import read_stream

pytestmark = pytest.mark.django_db

OPERATIONS = {
    "refine": ("/api/ai/refine-description", "Refine"),
    "estimate": ("/api/ai/estimate-points", "Estimate"),
    "breakdown": ("/api/ai/breakdown-issue", "Breakdown"),
}


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema as `manage.py spectacular` writes it, validated, failing on any warning."""
    path = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def api_routes(patterns: list, prefix: str = "") -> set[str]:
    """Every route under /api/, with its parameters written as {}."""
    routes = set()
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes |= api_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/"):
            routes.add("/" + re.sub(r"<[^>]+>", "{}", route))
    return routes


def test_the_schema_lists_every_api_endpoint(schema):
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in schema["paths"]}
    assert documented == api_routes(get_resolver().url_patterns) - {"/api/schema/", "/api/docs/"}


def test_every_operation_needs_authentication(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"tokenAuth": []} in operation["security"], (method, path)
            assert {} not in operation["security"], (method, path)


@pytest.mark.parametrize("kind", OPERATIONS)
def test_the_streams_are_documented_as_event_streams(schema, kind):
    path, name = OPERATIONS[kind]
    operation = schema["paths"][f"{path}-stream"]["post"]
    ok = operation["responses"]["200"]["content"]
    assert list(ok) == ["text/event-stream"]
    events = schema["components"]["schemas"][f"{name}StreamEvent"]
    assert set(events["discriminator"]["mapping"]) == {"text", "confidence", "metadata", "error"}
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AIRequest"
    }
    assert {"400", "401", "429"} <= set(operation["responses"])


@pytest.mark.parametrize("kind", OPERATIONS)
def test_the_json_operations_document_their_answer_and_failures(schema, kind):
    path, name = OPERATIONS[kind]
    responses = schema["paths"][path]["post"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{name}Answer"
    }
    assert {"400", "429", "502", "504"} <= set(responses)


def validator(schema: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A JSON Schema validator for one component (OpenAPI 3.0's `nullable` made JSON Schema)."""

    def plain(node: Any) -> Any:
        if isinstance(node, dict):
            node = {key: plain(value) for key, value in node.items()}
            if node.pop("nullable", False):
                if "type" in node:
                    node["type"] = [node["type"], "null"]
                if "enum" in node:
                    node["enum"] = [*node["enum"], None]
            return node
        if isinstance(node, list):
            return [plain(item) for item in node]
        return node

    components = plain(copy.deepcopy(schema["components"]["schemas"]))
    document = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": components}}
    for component in components.values():
        if "properties" in component:
            component["additionalProperties"] = False  # an undocumented field is a failure too
    return jsonschema.Draft202012Validator(document)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", OPERATIONS)
def test_what_the_service_sends_matches_the_schema(schema, service, auth, kind):
    baker.make(
        "issues.Issue",
        key="SHOP-7",
        title="Export orders as CSV",
        description="Managers export the order list as a CSV file.",
    )
    path, name = OPERATIONS[kind]
    with service.client() as client:
        stream = read_stream(client, f"{path}-stream", {"issueId": "SHOP-7"}, headers=auth)
        answer = client.post(path, json={"issueId": "SHOP-7"}, headers=auth)
        suggestion = client.get(
            f"/api/ai/suggestions/{answer.json()['suggestionId']}/", headers=auth
        )

    events = validator(schema, f"{name}StreamEvent")
    for event in stream.events:
        events.validate(event)
    assert stream.types[-1] == "metadata"
    validator(schema, f"{name}Answer").validate(answer.json())
    validator(schema, "Suggestion").validate(suggestion.json())


def test_the_docs_are_served_from_the_package_not_a_cdn(user):
    client = APIClient()
    client.force_login(user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert all(asset.startswith("/static/") for asset in assets), assets
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset
    assert "/api/schema/" in page


def test_the_schema_is_served_to_users(auth):
    response = APIClient().get("/api/schema/?format=json", headers=auth)
    assert response.status_code == 200
    assert "/api/ai/suggestions/{id}/accept" in response.json()["paths"]


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_anonymous_clients_get_json_refusals(path):
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


def test_an_anonymous_browser_is_sent_to_log_in_first():
    response = APIClient().get("/api/docs/", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/api/docs/"
