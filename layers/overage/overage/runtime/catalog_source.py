"""Which catalog a function bills with: the bundled data file, or a JSON document in SSM (no code change)."""

from __future__ import annotations

from functools import lru_cache

from overage.domain.catalog import Catalog, default_catalog, load_catalog
from overage.runtime.config import Settings

CATALOG_MAX_AGE_SECONDS = 300


@lru_cache(maxsize=4)
def _parsed(document: str) -> Catalog:
    return load_catalog(document)


def current_catalog(settings: Settings) -> Catalog:
    if not settings.catalog_parameter:
        return default_catalog()
    from aws_lambda_powertools.utilities import parameters

    document = parameters.get_parameter(settings.catalog_parameter, max_age=CATALOG_MAX_AGE_SECONDS)
    return _parsed(str(document))
