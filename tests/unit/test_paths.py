"""Path ids are decoded once, by one middleware, for every route (pins how Powertools hands route arguments on)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from shared.service.paths import decode_path_parameters, path_value


def resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    app.use(middlewares=[decode_path_parameters])

    @app.get("/v1/things/<thing_id>/parts/<part_id>")
    def parts(thing_id: str, part_id: str) -> dict[str, Any]:
        return {"thing_id": thing_id, "part_id": part_id}

    return app


def event(raw_path: str) -> dict[str, Any]:
    """An HTTP API event as API Gateway sends it: ``rawPath`` already decoded once."""
    return {
        "version": "2.0",
        "routeKey": "GET /v1/things/{thing_id}/parts/{part_id}",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": raw_path}, "stage": "$default", "requestId": "r"},
        "isBase64Encoded": False,
    }


def test_every_route_gets_its_path_ids_decoded_once():
    # "anna/ü #1?%" and "50%25" sent encoded twice arrive encoded once in rawPath
    response = resolver().resolve(event("/v1/things/anna%2F%C3%BC%20%231%3F%25/parts/50%2525"), None)

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"thing_id": "anna/ü #1?%", "part_id": "50%25"}


def test_a_plain_id_and_a_stray_percent_stay_as_they_are():
    assert path_value("anna") == "anna"
    assert path_value("100%") == "100%"
    assert path_value("zoë") == "zoë"
