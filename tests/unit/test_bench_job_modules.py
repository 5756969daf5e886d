"""The cold-start bench's second figure (issue 20) counts the modules a function's invocations import after its
handler's: ``bench.cold_start.job_modules`` must find the ones a function body imports and leave out the other
functions' jobs and what is imported for type checking only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cold_start import job_modules

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@pytest.mark.parametrize(
    ("function", "own", "others"),
    [
        ("renewal_billing", {"overage.services.renewal", "overage.services.plan_changes"}, {"overage.services.report"}),
        # renewal's `self.follow_up_runners` is not the composition root's factory of that name
        (
            "grace_expiry",
            {"overage.services.dunning", "overage.services.grace_expiry"},
            {"overage.services.report", "overage.services.plan_changes"},
        ),
        ("fair_use_rollup", {"overage.services.fair_use"}, {"overage.services.grace_expiry"}),
        ("usage_report", {"overage.services.report", "overage.render.report_html"}, {"overage.services.renewal"}),
        # the stores a job is built from: only those its factory names (not the calls store, fair use's)
        ("email_feedback", {"overage.services.email_feedback"}, {"overage.services.report", "overage.store.calls"}),
        # the webhook dispatches each event type to a service imported in its dispatch function
        ("crm_webhook", {"overage.services.adjustments", "overage.services.payments"}, {"overage.services.report"}),
    ],
)
def test_a_function_s_modules_include_its_own_job_and_not_the_others(
    function: str, own: set[str], others: set[str]
) -> None:
    found = job_modules(FUNCTIONS / function, "app")
    assert found[0] == "app"
    assert own <= set(found)
    assert not others & set(found)  # named under TYPE_CHECKING, or in another function's factory
    assert len(found) == len(set(found))
