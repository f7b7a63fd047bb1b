"""Both OpenAPI documents, tried by schemathesis against a real gateway:
every operation, seeded, a bounded number of examples each; no answer is a
server error, and every answer (status, content type, headers, body) is one
the document lists."""

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from gateway.http.openapi import ADMIN, openapi_document
from tests.http.harness import ADMIN_TOKEN

EXAMPLES = 40
PUBLIC = schemathesis.openapi.from_dict(openapi_document())
ADMIN_API = schemathesis.openapi.from_dict(openapi_document(ADMIN, title="login-gateway admin"))
# A well-formed login with made-up credentials is rightly refused (401, 423,
# 429): "schema-valid data is accepted" does not hold for an auth API. Every
# other check runs: no server error, and status, content type, headers and
# body as documented.
EXCLUDED = [positive_data_acceptance]
SEEDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@PUBLIC.parametrize()
@SEEDED
def test_the_public_api_keeps_to_its_document(case, gateway):
    excluded = EXCLUDED
    if case.path == "/auth/verify":
        # Forward auth answers for any method a proxy asks about (WebDAV's
        # too), not only the ones an OpenAPI document can list.
        excluded = [*EXCLUDED, unsupported_method]
    case.call_and_validate(base_url=gateway.public_url, excluded_checks=excluded)


@ADMIN_API.parametrize()
@SEEDED
def test_the_admin_api_keeps_to_its_document(case, gateway):
    case.call_and_validate(
        base_url=gateway.admin_url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        excluded_checks=EXCLUDED,
    )
