"""Every read route of the API is one of the template's API events: API Gateway (and ``sam local start-api``,
``overage local api``, the demo) serve only the paths the template declares."""

from __future__ import annotations

import re

from overage.api import accounts
from overage_local.template import LocalTemplate

from tests.support import ROOT


def test_every_account_route_is_declared_in_the_template() -> None:
    template = LocalTemplate.from_file(ROOT / "template.yaml")
    declared = {
        (str(event["Properties"]["Path"]), str(event["Properties"]["Method"]).upper())
        for event in template.function_events("CrmWebhookFunction", "Api").values()
    }
    routes = {
        (re.sub(r"<[a-z_]+>", "{}", rule), method)
        for rule, methods, *_ in accounts.router._routes
        for method in methods
    }
    declared_shapes = {(re.sub(r"\{[a-z_]+\}", "{}", path), method) for path, method in declared}
    assert ("/accounts/{}/adjustments", "GET") in routes
    assert routes <= declared_shapes, routes - declared_shapes
