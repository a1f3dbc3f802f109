"""Search spaces: compositions, process parameters and linear constraints."""

from optim.search_space.composition import CompositionParameter, Precursor
from optim.search_space.constraints import LinearConstraint
from optim.search_space.parameters import CategoricalParameter, NumericalParameter, Parameter
from optim.search_space.space import SearchSpace

__all__ = [
    "CategoricalParameter",
    "CompositionParameter",
    "LinearConstraint",
    "NumericalParameter",
    "Parameter",
    "Precursor",
    "SearchSpace",
]
