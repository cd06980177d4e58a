"""The SQL spellings that differ between DuckDB and ClickHouse, and nothing else.

Report queries are written once against this small vocabulary (as Ibis does with a rename
table per dialect); what both engines spell alike (CASE, window functions, count(DISTINCT),
GROUP BY ...) is written directly. Values never enter SQL text: `Params.add` returns a
placeholder in the dialect's syntax and keeps the value aside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Unit = Literal["hour", "day", "week", "month"]


@dataclass
class Params:
    """The values of one query, named p0, p1, ... in the order they were added."""

    dialect: Dialect
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return self.dialect.placeholder(name, value)


class Dialect:
    """DuckDB's spelling; ClickHouse overrides what differs."""

    name = "duckdb"
    # count_numbers is a bitmap over the column's range (memory per group: range / 8 bytes)
    bitmaps = True

    def placeholder(self, name: str, value: Any) -> str:
        return f"${name}"

    def prop(self, column: str, key: str, params: Params) -> str:
        """A JSON column's top-level `key` as text: strings as they are, numbers and booleans
        as JSON text, NULL when missing or JSON null."""
        return f"json_extract_string({column}, {params.add(json_path(key))})"

    def count_if(self, cond: str) -> str:
        """Rows where `cond` holds, 0 when none. (Not `sum(CASE ...)`: DuckDB 2.0's statistics
        propagation can prove a filter on such a sum empty when it is not; and its count_if
        gives NULL for a group whose conditions are all NULL.)"""
        return f"count(*) FILTER (WHERE {cond})"

    def nested_prop(self, column: str, parent: str, key: str, params: Params) -> str:
        """`prop` of a key inside a top-level object (e.g. `context` → `traits` → `email`)."""
        path = json_path(parent) + json_path(key)[1:]
        return f"json_extract_string({column}, {params.add(path)})"

    def epoch_us(self, ts: str) -> str:
        return f"epoch_us({ts})"

    def local(self, ts: str, tz_placeholder: str) -> str:
        """A UTC timestamp column as a naive local time in the given zone."""
        return f"timezone({tz_placeholder}, {ts} AT TIME ZONE 'UTC')"

    def trunc_text(self, unit: Unit, local_ts: str, week_start: str = "monday") -> str:
        """The start of the hour/day/week/month holding `local_ts`, as 'YYYY-MM-DD HH:MM:SS'."""
        if unit == "week" and week_start == "sunday":
            start = f"(date_trunc('week', {local_ts} + INTERVAL 1 DAY) - INTERVAL 1 DAY)"
        else:
            start = f"date_trunc('{unit}', {local_ts})"
        return f"strftime({start}, '%Y-%m-%d %H:%M:%S')"

    def period_number(self, unit: Unit, local_ts: str, week_start: str = "monday") -> str:
        """The number of the hour/day/week/month holding `local_ts` (a local time), counted
        from 1970-01-01 local: hours, days, weeks (the day number of the week's first day
        // 7: floor((day - 4) / 7) for Monday-first weeks, floor((day - 3) / 7) for
        Sunday-first) or year * 12 + month - 1. Arithmetic, no text."""
        days = self.day_number(local_ts)
        if unit == "hour":
            return f"({days} * 24 + {self.hour_of(local_ts)})"
        if unit == "day":
            return days
        if unit == "week":
            return _week_number(days, week_start)
        return f"CAST({self.year_month(local_ts)} AS BIGINT)"

    def period_number_shifted(
        self, unit: Unit, ts: str, offset_us: str, week_start: str = "monday"
    ) -> str:
        """`period_number` of a UTC time in a zone whose UTC offset (`offset_us`, a
        placeholder) is the same over all the times read: epoch arithmetic instead of a
        time-zone conversion per row (hours, days, weeks; months need the calendar)."""
        shifted = f"({self.epoch_us(ts)} + {offset_us})"
        if unit == "hour":
            return self.int_div(shifted, 3_600_000_000)
        days = self.int_div(shifted, 86_400_000_000)
        if unit == "day":
            return days
        if unit == "week":
            return _week_number(days, week_start)
        raise ValueError("months need the calendar: use period_number")

    def int_div(self, expr: str, divisor: int) -> str:
        """Integer division of a non-negative BIGINT."""
        return f"({expr} // {int(divisor)})"

    def day_number(self, local_ts: str) -> str:
        return f"CAST(date_diff('day', DATE '1970-01-01', CAST({local_ts} AS DATE)) AS BIGINT)"

    def hour_of(self, local_ts: str) -> str:
        return f"CAST(hour({local_ts}) AS BIGINT)"

    def year_month(self, local_ts: str) -> str:
        return f"(year({local_ts}) * 12 + month({local_ts}) - 1)"

    def count_numbers(self, column: str) -> str:
        """count(DISTINCT column) of a BIGINT column read straight from a table (its
        statistics bound the values): DuckDB sets bits of a bitmap spanning the column's
        range (several times faster than a distinct hash, and memory per group is the
        range / 8 bytes, so callers bound the number of groups)."""
        return f"bit_count(bitstring_agg({column}))"

    def median(self, expr: str) -> str:
        """The lower median, an element of the data (no interpolation)."""
        return f"quantile_disc({expr}, 0.5)"

    def prev(self, expr: str) -> str:
        """lag(expr), NULL on the first row of the partition."""
        return f"lag({expr})"

    def last_non_null(self, expr: str) -> str:
        return f"last_value({expr} IGNORE NULLS)"

    def regex(self, expr: str, pattern: str) -> str:
        return f"regexp_matches({expr}, {pattern})"

    def regexp_replace(self, expr: str, pattern: str, replacement: str) -> str:
        """Every match of `pattern` replaced; `\\1` in `replacement` is the first group."""
        return f"regexp_replace({expr}, {pattern}, {replacement}, 'g')"

    def contains_ci(self, expr: str, needle: str) -> str:
        return f"(strpos(lower({expr}), lower({needle})) > 0)"

    def contains(self, expr: str, needle: str) -> str:
        """Case-sensitive substring test (no lower-casing of a long text)."""
        return f"contains({expr}, {needle})"

    def to_number(self, expr: str) -> str:
        return f"TRY_CAST({expr} AS DOUBLE)"

    def arg_min(self, value: str, key: str) -> str:
        return f"arg_min({value}, {key})"

    def arg_max(self, value: str, key: str) -> str:
        return f"arg_max({value}, {key})"

    def arg_min_if(self, value: str, key: str, cond: str) -> str:
        return f"arg_min({value}, {key}) FILTER (WHERE {cond})"

    def arg_max_if(self, value: str, key: str, cond: str) -> str:
        return f"arg_max({value}, {key}) FILTER (WHERE {cond})"

    def tuple_(self, *items: str) -> str:
        return "row(" + ", ".join(items) + ")"

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def list_agg(self, expr: str, order_by: str) -> str:
        return f"list({expr} ORDER BY {order_by})"

    def materialized(self) -> str:
        """Written after `AS` of a CTE a query reads more than once, so it is computed once
        (DuckDB; ClickHouse inlines every CTE and has no such keyword)."""
        return "MATERIALIZED "

    def unnest_range(self, lo: int, hi: int) -> str:
        """In a select list: one row per integer lo..hi (inclusive) for each input row."""
        return f"unnest(range({int(lo)}, {int(hi) + 1}))"

    def hash_bucket(self, expr: str, buckets: int) -> str:
        """Which of `buckets` parts a value falls in (to split work, not to publish)."""
        return f"(hash({expr}) % {int(buckets)})"

    def temp_table(self, name: str, select: str) -> str:
        """A statement creating a session-local table from a query."""
        return f"CREATE TEMP TABLE {name} AS {select}"


class ClickHouse(Dialect):
    name = "clickhouse"
    bitmaps = False

    def placeholder(self, name: str, value: Any) -> str:
        return f"{{{name}:{_ch_type(value)}}}"

    def prop(self, column: str, key: str, params: Params) -> str:
        k = params.add(key)
        kind = f"JSONType({column}, {k})"
        return (
            f"multiIf({kind} = 'String', JSONExtractString({column}, {k}),"
            f" {kind} IN ('Null', 'Object', 'Array') OR NOT JSONHas({column}, {k}), NULL,"
            f" JSONExtractRaw({column}, {k}))"
        )

    def count_if(self, cond: str) -> str:
        return f"countIf({cond})"

    def nested_prop(self, column: str, parent: str, key: str, params: Params) -> str:
        p, k = params.add(parent), params.add(key)
        kind = f"JSONType({column}, {p}, {k})"
        return (
            f"multiIf({kind} = 'String', JSONExtractString({column}, {p}, {k}),"
            f" {kind} IN ('Null', 'Object', 'Array') OR NOT JSONHas({column}, {p}, {k}), NULL,"
            f" JSONExtractRaw({column}, {p}, {k}))"
        )

    def epoch_us(self, ts: str) -> str:
        return f"toUnixTimestamp64Micro({ts})"

    def local(self, ts: str, tz_placeholder: str) -> str:
        return f"toTimeZone({ts}, {tz_placeholder})"

    def trunc_text(self, unit: Unit, local_ts: str, week_start: str = "monday") -> str:
        start = {
            "hour": f"toStartOfHour({local_ts})",
            "day": f"toStartOfDay({local_ts})",
            "week": f"toStartOfWeek({local_ts}, {1 if week_start == 'monday' else 0})",
            "month": f"toStartOfMonth({local_ts})",
        }[unit]
        return f"formatDateTime({start}, '%Y-%m-%d %H:%i:%S')"

    def int_div(self, expr: str, divisor: int) -> str:
        return f"intDiv({expr}, {int(divisor)})"

    def day_number(self, local_ts: str) -> str:
        return f"toInt64(dateDiff('day', toDate('1970-01-01'), toDate({local_ts})))"

    def hour_of(self, local_ts: str) -> str:
        return f"toInt64(toHour({local_ts}))"

    def year_month(self, local_ts: str) -> str:
        return f"(toYear({local_ts}) * 12 + toMonth({local_ts}) - 1)"

    def count_numbers(self, column: str) -> str:
        return f"uniqExact({column})"

    def median(self, expr: str) -> str:
        return f"quantileExactLow(0.5)({expr})"

    def prev(self, expr: str) -> str:
        return f"lag(toNullable({expr}))"

    def last_non_null(self, expr: str) -> str:
        return f"last_value({expr})"

    def regex(self, expr: str, pattern: str) -> str:
        return f"match({expr}, {pattern})"

    def regexp_replace(self, expr: str, pattern: str, replacement: str) -> str:
        return f"replaceRegexpAll({expr}, {pattern}, {replacement})"

    def contains_ci(self, expr: str, needle: str) -> str:
        return f"(positionCaseInsensitiveUTF8({expr}, {needle}) > 0)"

    def contains(self, expr: str, needle: str) -> str:
        return f"(position({expr}, {needle}) > 0)"

    def to_number(self, expr: str) -> str:
        return f"toFloat64OrNull({expr})"

    def arg_min(self, value: str, key: str) -> str:
        return f"argMin({value}, {key})"

    def arg_max(self, value: str, key: str) -> str:
        return f"argMax({value}, {key})"

    def arg_min_if(self, value: str, key: str, cond: str) -> str:
        return f"argMinIf({value}, {key}, {cond})"

    def arg_max_if(self, value: str, key: str, cond: str) -> str:
        return f"argMaxIf({value}, {key}, {cond})"

    def tuple_(self, *items: str) -> str:
        return "tuple(" + ", ".join(items) + ")"

    def text(self, expr: str) -> str:
        return f"toString({expr})"

    def list_agg(self, expr: str, order_by: str) -> str:
        # arraySort by the key keeps both engines' element order identical.
        return f"arrayMap(x -> x.2, arraySort(x -> x.1, groupArray(({order_by}, {expr}))))"

    def materialized(self) -> str:
        return ""

    def unnest_range(self, lo: int, hi: int) -> str:
        return f"arrayJoin(range({int(lo)}, {int(hi) + 1}))"

    def hash_bucket(self, expr: str, buckets: int) -> str:
        return f"(cityHash64({expr}) % {int(buckets)})"

    def temp_table(self, name: str, select: str) -> str:
        return f"CREATE TEMPORARY TABLE {name} ENGINE = Memory AS {select}"


def _week_number(days: str, week_start: str) -> str:
    """The number of the week holding day number `days` (1970-01-01 was a Thursday)."""
    return f"CAST(floor(({days} - {4 if week_start == 'monday' else 3}) / 7) AS BIGINT)"


def json_path(key: str) -> str:
    """DuckDB JSON path of one top-level key (quoted, so dots and spaces stay in the key)."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ch_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    if isinstance(value, datetime):
        return "DateTime64(6, 'UTC')"
    if isinstance(value, (list, tuple)):
        inner = {_ch_type(v) for v in value} or {"String"}
        return f"Array({inner.pop() if len(inner) == 1 else 'String'})"
    return "String"


DUCKDB = Dialect()
CLICKHOUSE = ClickHouse()
