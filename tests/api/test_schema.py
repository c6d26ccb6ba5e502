"""The OpenAPI document at /api/schema/ and the interactive docs at /api/docs/ (no CDN)."""

import re

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_openapi_3_and_documents_only_the_versioned_api(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["paths"]
    assert all(path.startswith("/api/v1/") for path in schema["paths"])


def test_every_operation_documents_the_error_envelope(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            for code in ("401", "403", "404", "422", "429"):
                content = operation["responses"][code]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path, code)
            if method == "post":
                assert {"409", "412"} <= set(operation["responses"]), (method, path)


def test_the_main_operations_carry_request_and_response_examples(schema):
    contact = schema["paths"]["/api/v1/cases/{case_id}/contacts/"]["post"]
    assert contact["requestBody"]["content"]["application/json"]["examples"]
    assert contact["responses"]["422"]["content"]["application/json"].get("examples")
    token = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert token["responses"]["201"]["content"]["application/json"]["examples"]
    payment = schema["paths"]["/api/v1/payments/"]["post"]
    assert payment["requestBody"]["content"]["application/json"]["examples"]


def test_token_authentication_is_declared(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["knoxApiToken"]["type"] == "http" or schemes["knoxApiToken"]["in"] == "header"


def test_the_schema_also_comes_as_yaml(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert yaml.safe_load(response.content)["info"]["title"] == "Collections casework API"


def test_the_docs_page_serves_swagger_ui_from_our_own_static_files(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    external = [url for url in re.findall(r"""(?:src|href)=["']([^"']+)""", html) if url.startswith("http")]
    assert external == []
    assert "/static/drf_spectacular_sidecar/" in html
