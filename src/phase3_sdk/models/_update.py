"""Update payloads: only the fields a caller gives are sent, and a non-nullable column cannot be nulled."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from ._base import PayloadModel


class UpdateModel(PayloadModel):
    """Base of update payloads. ``nullable`` lists the columns that may be set to null."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required_columns(self) -> UpdateModel:
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in self.nullable:
                raise ValueError(f"{name} cannot be set to null")
        return self

    def changes(self) -> dict[str, Any]:
        """The given fields, as the database stores them."""
        return self.model_dump(exclude_unset=True)
