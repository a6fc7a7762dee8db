# Shared by all the rules/*.smk files: the plan of the configured runs
# (weaklesion.workflow.plan), the results layout (weaklesion.layout: every path below is built
# there) and the wildcards.
import re

from weaklesion.layout import (
    ABLATION,
    ABLATION_RUN,
    ARCHIVES,
    DATASET,
    DATASET_FIGURES,
    FIGURES,
    PROTOCOL,
    PROVENANCE,
    RELEASED_RUN,
    RUN,
    TABLES,
    UNPACKED,
    VARIANT_PATTERN,
    WEIGHTS,
)
from weaklesion.models import MODEL_NAMES
from weaklesion.protocols import PAPER, PROTOCOLS
from weaklesion.workflow.plan import Plan

PLAN = Plan(config)
PLAN.check_released_files()
CONDA_ENV = "../envs/weaklesion.yaml"


def names_regex(names):
    """A wildcard constraint matching exactly these names (or nothing)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def datasets_from(source):
    """The datasets whose raw files are ``generated``, come as ``archives`` or at a ``path``."""
    return names_regex([d for d, s in PLAN.datasets.items() if s["source"] == source])


wildcard_constraints:
    dataset=names_regex(PLAN.datasets),
    protocol=names_regex(PROTOCOLS),
    model=names_regex(MODEL_NAMES),
    seed=r"\d+",
    variant=VARIANT_PATTERN,
