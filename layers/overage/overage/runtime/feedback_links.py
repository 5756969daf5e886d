"""The feedback links of a notice email, signed where the key is known (spec §3.9): the key (an SSM SecureString
named by ``FEEDBACK_SECRET_PARAMETER``) and the API's public URL (the SSM parameter ``FEEDBACK_BASE_URL_PARAMETER``)
are read through Powertools Parameters on first use and kept for five minutes, like the webhook secret. The outbox
calls it for each email it sends; the notice renders the links it is given (``domain.notice``)."""

from __future__ import annotations

from dataclasses import dataclass

from overage.domain import feedback
from overage.domain.feedback import FeedbackLinks
from overage.domain.notice import Notice

PARAMETER_MAX_AGE_SECONDS = 300


def feedback_secret(parameter: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(parameter, decrypt=True, max_age=PARAMETER_MAX_AGE_SECONDS))


def feedback_base_url(parameter: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(parameter, max_age=PARAMETER_MAX_AGE_SECONDS))


@dataclass(frozen=True)
class SignedLinks:
    secret_parameter: str
    base_url_parameter: str

    def __call__(self, notice: Notice) -> FeedbackLinks:
        return feedback.links(
            feedback_base_url(self.base_url_parameter),
            feedback_secret(self.secret_parameter),
            notice.account_id,
            notice.notice_id,
        )
