"""The shipped `sam local --env-vars` file is what the template resolves to (regenerate: `make env-vars`)."""

import json

from overage_local.cli import SAM_LOCAL_ENDPOINT, sam_local_env_vars
from overage_local.template import LocalTemplate

from tests.support import ROOT


def test_env_local_json_matches_the_template() -> None:
    shipped = json.loads((ROOT / "env.local.json").read_text())
    expected = sam_local_env_vars(LocalTemplate.from_file(ROOT / "template.yaml"), SAM_LOCAL_ENDPOINT)
    assert shipped == expected, "env.local.json is stale: run `make env-vars`"
    assert set(shipped) == set(LocalTemplate.from_file(ROOT / "template.yaml").function_ids())
    assert all(v["AWS_ENDPOINT_URL"] == "http://host.docker.internal:4566" for v in shipped.values())
