"""clusterpreneur."""

from clusterpreneur.codebook import CODEBOOK
from clusterpreneur.readers import load_survey, write_survey
from clusterpreneur.schema import validate_survey
from clusterpreneur.simulate import simulate_survey

__all__ = ["CODEBOOK", "load_survey", "simulate_survey", "validate_survey", "write_survey"]
