"""A workspace's lead-scoring model, as data (workspace setting `scoring`; docs/scoring.md).

```json
{
  "fit": [{"name": "Target industry", "key": "industry", "op": "eq",
           "value": ["software", "finance"], "points": 15}],
  "engagement": [{"name": "Page views", "event": "$pageview", "points": 1, "count": "every",
                  "cap": 10},
                 {"name": "Webinar attended", "event": "Webinar Attended", "points": 10,
                  "count": "once"}],
  "signals": [{"name": "Demo requested", "event": "Demo Requested", "points": 30,
               "min_grade": "A"},
              {"name": "Pricing page 3+ times", "event": "$pageview",
               "filters": [{"key": "$path", "op": "eq", "value": "/pricing"}],
               "min_count": 3, "window_days": 30, "points": 10, "min_grade": "B"}],
  "fit_max": 40, "engagement_max": 60, "half_life_days": 30,
  "grades": {"A": 80, "B": 60, "C": 40},
  "stages": {"marketing_qualified": 60, "sales_qualified": 80}
}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from haina.query.filters import Filter, Op, PropertyFilter, Scalar
from haina.segments.definition import EventSpec

Grade = Literal["A", "B", "C", "D"]
GRADES: tuple[Grade, ...] = ("A", "B", "C", "D")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FitRule(_Strict):
    """Points when a trait matches (profile fit: industry, company size, title, region ...)."""

    name: str = Field(min_length=1, max_length=200)
    key: str = Field(min_length=1, max_length=200)
    op: Op = "eq"
    value: Scalar | list[Scalar] | None = None
    points: int = Field(ge=-100, le=100)

    @model_validator(mode="after")
    def _check(self) -> FitRule:
        self.as_filter()
        return self

    def as_filter(self) -> PropertyFilter:
        return PropertyFilter(key=self.key, op=self.op, value=self.value, source="person")


class EngagementRule(EventSpec):
    """Points per behaviour: once per person, or every time up to `cap`; each occurrence
    decays with the half-life (an occurrence `half_life_days` old counts half)."""

    name: str = Field(min_length=1, max_length=200)
    points: float = Field(gt=0, le=100)
    count: Literal["once", "every"] = "every"
    cap: float | None = Field(default=None, gt=0, le=100)
    half_life_days: float | None = Field(default=None, ge=1, le=3650)
    filters: list[Filter] = Field(default_factory=list)

    @property
    def limit(self) -> float:
        return self.points if self.count == "once" else (self.cap or self.points * 10)


class Signal(EventSpec):
    """An opportunity signal: the event at least `min_count` times (in the last `window_days`,
    or ever): its points, and at least `min_grade` whatever the score."""

    name: str = Field(min_length=1, max_length=200)
    points: float = Field(default=0, ge=0, le=100)
    min_count: int = Field(default=1, ge=1, le=10_000)
    window_days: int | None = Field(default=None, ge=1, le=3650)
    min_grade: Grade | None = None


class Stages(_Strict):
    marketing_qualified: float = Field(default=60, ge=0, le=100)
    sales_qualified: float = Field(default=80, ge=0, le=100)


class Grades(_Strict):
    A: float = Field(default=80, ge=0, le=100)
    B: float = Field(default=60, ge=0, le=100)
    C: float = Field(default=40, ge=0, le=100)

    @model_validator(mode="after")
    def _order(self) -> Grades:
        if not self.A >= self.B >= self.C:
            raise ValueError("grade thresholds go down from A to C")
        return self


class ScoringModel(_Strict):
    fit: list[FitRule] = Field(default_factory=list, max_length=50)
    engagement: list[EngagementRule] = Field(default_factory=list, max_length=50)
    signals: list[Signal] = Field(default_factory=list, max_length=20)
    fit_max: float = Field(default=40, ge=0, le=100)
    engagement_max: float = Field(default=60, ge=0, le=100)
    half_life_days: float = Field(default=30, ge=1, le=3650)
    grades: Grades = Field(default_factory=Grades)
    stages: Stages = Field(default_factory=Stages)

    @model_validator(mode="after")
    def _names(self) -> ScoringModel:
        names = [r.name for r in self.fit] + [r.name for r in self.engagement]
        names += [r.name for r in self.signals]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        if self.stages.sales_qualified < self.stages.marketing_qualified:
            raise ValueError("stages.sales_qualified is below stages.marketing_qualified")
        return self

    @property
    def empty(self) -> bool:
        return not (self.fit or self.engagement or self.signals)

    def grade(self, score: float, floor: Grade | None = None) -> Grade:
        g = self.grades
        grade: Grade = (
            "A" if score >= g.A else "B" if score >= g.B else "C" if score >= g.C else "D"
        )
        if floor is not None and GRADES.index(floor) < GRADES.index(grade):
            return floor
        return grade
