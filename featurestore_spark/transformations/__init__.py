"""Transformation functions for feature views: built-ins and user-defined (``udf``)."""

from .builtins import BUILTINS
from .functions import Bound, TransformationFunction, udf

__all__ = ["BUILTINS", "Bound", "TransformationFunction", "udf"]
