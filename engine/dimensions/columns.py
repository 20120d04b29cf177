"""What a dimension hands the profile: its contract fields as columns, keyed by their names.

Each dimension module (customer value and churn, next behaviour, ...) returns a
:class:`FieldColumns`: one column per field of ``core.profile_contract.FIELDS`` it computes,
one entry per snapshot user (a tensor or a list; NaN or "" where a figure does not apply). The
names are the contract's, checked here, so no dimension restates its fields in a record of its
own; :class:`engine.dimensions.profile.Profiles` is the union of the columns, and each value is
cleaned once, by the contract (:meth:`core.profile_contract.ProfileField.to_value`), when the
profiled users' rows are taken (:meth:`FieldColumns.select`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from core.profile_contract import FIELDS_BY_NAME


@dataclass
class FieldColumns:
    columns: dict[str, Any]  # contract field name -> one value per snapshot user

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(FIELDS_BY_NAME))
        if unknown:
            raise ValueError(f"columns {unknown} are not fields of core.profile_contract")

    def __getattr__(self, name: str) -> Any:
        columns = self.__dict__.get("columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(name)

    def select(self, users: list[int]) -> dict[str, list[Any]]:
        """The columns of ``users`` (snapshot indices), each value as the contract stores it."""
        out = {}
        for name, column in self.columns.items():
            values = column.tolist() if isinstance(column, Tensor) else column
            clean = FIELDS_BY_NAME[name].to_value
            out[name] = [clean(values[u]) for u in users]
        return out
