"""The OpenAPI document and the interactive docs."""

import json

import pytest

CUSTOMER_PATHS = {
    "/api/v1/customers": {"get", "post"},
    "/api/v1/customers/{customer_id}": {"get", "patch", "delete"},
    "/api/v1/customers/{customer_id}/consents": {"put"},
    "/api/v1/customers/{customer_id}/audit": {"get"},
    "/api/v1/customers/{customer_id}/timeline": {"get"},
    "/api/v1/customers/{customer_id}/contacts": {"get", "post"},
    "/api/v1/contacts/{contact_id}": {"get", "patch", "delete"},
    "/api/v1/tags": {"get", "post"},
    "/api/v1/tags/{tag_id}": {"patch", "delete"},
    "/api/v1/custom-fields": {"get", "post"},
    "/api/v1/custom-fields/{field_id}": {"patch", "delete"},
}


@pytest.mark.django_db
def test_openapi_json_is_valid_json_and_lists_the_customer_paths(alice, web_as):
    response = web_as(alice).get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    doc = json.loads(response.content)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "Guanxi API"
    for path, methods in CUSTOMER_PATHS.items():
        assert path in doc["paths"], path
        assert methods <= set(doc["paths"][path]), path


@pytest.mark.django_db
def test_every_customer_operation_documents_the_error_format(alice, web_as):
    doc = web_as(alice).get("/api/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["ErrorOut"]["properties"]) == {"code", "message", "errors"}
    for path in CUSTOMER_PATHS:
        for method, operation in doc["paths"][path].items():
            assert {"401", "403", "404", "422"} <= set(operation["responses"]), (path, method)
            assert operation.get("security"), (path, method)  # bearer token or session


@pytest.mark.django_db
def test_the_interactive_docs_render_for_a_logged_in_user_without_a_cdn(alice, web_as):
    response = web_as(alice).get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "/api/v1/openapi.json" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
