"""What every report starts from: a workspace's events in a date range, as people and sessions.

`Scope` builds the common table expressions a report query begins with:

- `idu` / `ida`: user id / anonymous id → person, from the identity graph (events keep the
  identifiers they arrived with; a merge re-attributes their history at once);
- `ev`: page, screen and track events of the range (plus a look-back for sessions), bots left
  out unless asked for, with `person`, `name` (`$pageview` for page calls) and `sel` (whether
  the event passes the report's event-level filters);
- `sx` / `sessions` (when asked): events numbered into sessions and one row per session with
  its entry attributes and counts. Definitions: docs/reports.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from haina.query.dialect import Dialect, Params, Unit
from haina.query.engine import Engine
from haina.query.filters import (
    ACQUISITION_KEYS,
    COLUMN_KEYS,
    Filter,
    PropertyFilter,
    compile_filters,
    iter_filters,
)
from haina.store.events.schema import (
    SESSION_ENTRY_COLUMNS,
    SESSION_EVENT_COLUMNS,
    STORED_SESSION_COLUMNS,
)

DAY_US = 86_400_000_000
SESSION_CAP_US = DAY_US
# The stored columns reports read (the rest — context, traits, raw user agent, ip ... — stay
# in the table: carrying them through every step made sessions 5x slower).
EV_COLUMNS = ", ".join(
    f"e.{c}"
    for c in (
        "type", "event", "anonymous_id", "user_id", "url", "host", "path", "referrer", "title",
        "properties", "library_name", "source_id", "browser", "browser_version", "os",
        "os_version", "device_type", "is_bot", "channel", "source", "medium", "campaign", "term",
        "content", "referrer_host", "click_id", "search_keyword", "country", "region", "city",
    )
)  # fmt: skip
# What `ev` holds: the stored columns above (properties only when a report reads them
# downstream) and what ev0 derives.
EV_NAMES = (
    *(c.removeprefix("e.") for c in EV_COLUMNS.split(", ")),
    "uuid", "ts", "event_name", "person", "pvid", "eng_pvid", "raw_eng_ms", "raw_scroll",
    "load_ms",
)  # fmt: skip
# A session's acquisition: the values on its first event.
ENTRY_COLUMNS = SESSION_ENTRY_COLUMNS


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """A workspace's report settings (see `haina workspace settings`)."""

    timezone: str = "UTC"
    session_timeout_minutes: int = 30
    engaged_seconds: int = 10
    session_split: Literal["none", "midnight_campaign"] = "none"
    conversion_events: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportContext:
    engine: Engine
    workspace_id: str
    settings: ReportSettings = field(default_factory=ReportSettings)
    now: datetime | None = None  # UTC, naive; None = the clock (tests pin it)
    # Whether the stored sessions (haina/query/stored.py) are up to date for these settings:
    # session reports then read them instead of deriving sessions from events.
    stored: bool = False

    def utc_now(self) -> datetime:
        from datetime import UTC

        return self.now or datetime.now(UTC).replace(tzinfo=None)


class ReportQuery(BaseModel):
    """Fields every report body shares."""

    model_config = ConfigDict(extra="forbid")

    date_from: datetime | date | None = Field(
        None, description="naive local date or date-time in `timezone`, inclusive"
    )
    date_to: datetime | date | None = Field(
        None, description="naive local date or date-time, inclusive (a date means its end)"
    )
    timezone: str | None = Field(None, description="IANA zone; default: the workspace's")
    filters: list[Filter] = Field(default_factory=list)
    include_bots: bool = False

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        """'2026-11-12' is a date (its whole day), not midnight."""
        if isinstance(value, str) and len(value.strip()) == 10:
            return date.fromisoformat(value.strip())
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, tz: str | None) -> str | None:
        if tz is not None:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {tz!r}") from exc
        return tz


@dataclass(frozen=True, slots=True)
class Range:
    """A query's range: local bounds (as asked) and UTC bounds (as stored), both inclusive."""

    tz: str
    local_from: datetime
    local_to: datetime
    utc_from: datetime
    utc_to: datetime


def resolve_range(
    q: ReportQuery, ctx: ReportContext, default_days: int = 30, step: timedelta | None = None
) -> Range:
    """Naive local bounds → UTC. A bare `date_to` means the end of that day; without dates the
    range is the last `default_days` days up to now."""
    tz = q.timezone or ctx.settings.timezone
    zone = ZoneInfo(tz)
    now_local = _to_local(ctx.utc_now(), zone)
    end = _bound(q.date_to, end=True) if q.date_to is not None else now_local
    if q.date_from is not None:
        start = _bound(q.date_from, end=False)
    else:
        start = datetime.combine(end.date(), time()) - (step or timedelta(days=default_days - 1))
    if start > end:
        raise ValueError("date_from is after date_to")
    return Range(tz, start, end, _to_utc(start, zone), _to_utc(end, zone))


def local_range(tz: str, local_from: datetime, local_to: datetime) -> Range:
    zone = ZoneInfo(tz)
    return Range(tz, local_from, local_to, _to_utc(local_from, zone), _to_utc(local_to, zone))


def _bound(value: datetime | date, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.combine(value, time.max if end else time())


def _to_local(utc: datetime, zone: ZoneInfo) -> datetime:
    from datetime import UTC

    return utc.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    from datetime import UTC

    return local.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Derivation:
    """How haina/query/stored.py narrows a scope to the people it re-derives: `events` is a
    condition on the stored columns (`e.`), `people` one on `ev0` (person, ts)."""

    events: str = "TRUE"
    people: str = "TRUE"


def identity_ctes(ws: str) -> str:
    """CTEs `idu` and `ida` of (ident, person): the person of each user id and anonymous id in
    the identity graph (haina/identity/store.py keeps it; readers refresh it first). `ws` is
    the workspace's placeholder."""
    return ",\n".join(
        f"{name} AS (SELECT id_value AS ident, person_id AS person FROM identity_nodes "
        f"WHERE workspace_id = {ws} AND id_type = '{kind}')"
        for kind, name in (("user_id", "idu"), ("anonymous_id", "ida"))
    )


# An event's person: the identity graph's person of its user id, else of its anonymous id
# (an identifier the graph does not hold yet, or a junk one, stands for itself).
PERSON = "coalesce(idu.person, ida.person, e.user_id, e.anonymous_id)"
PERSON_JOINS = "LEFT JOIN idu ON idu.ident = e.user_id LEFT JOIN ida ON ida.ident = e.anonymous_id"


class Scope:
    """The CTEs of one report query; `sql` and `params` are what the engine runs.

    `stored=True`: the report can read the stored sessions. It does when the context says
    they are up to date and the query allows it (no event-level or person filters, bots
    left out): `sx` and `sessions` then come from the stored tables, with the same columns
    and meaning as when they are derived from events (`self.stored` tells which)."""

    def __init__(
        self,
        ctx: ReportContext,
        q: ReportQuery,
        rng: Range,
        *,
        lookback_us: int = 0,
        stored: bool = False,
        stored_events: bool = False,
        derivation: Derivation | None = None,
    ) -> None:
        self.ctx, self.q, self.rng = ctx, q, rng
        self.d: Dialect = ctx.engine.dialect
        self.params = Params(self.d)
        self.ws = self.params.add(ctx.workspace_id)
        self.tz = self.params.add(rng.tz)
        self.lo = self.params.add(rng.utc_from)
        self.hi = self.params.add(rng.utc_to)
        self._lookback = timedelta(microseconds=lookback_us)
        self.scan_lo = self.params.add(rng.utc_from - self._lookback)
        self._person_keys: dict[str, str] = {}
        self._wide = False  # whether `ev` carries `properties` (see prop())
        self._built = False
        self.sql = ""
        leaves = iter_filters(q.filters)
        self.session_filters = any(f.key in ACQUISITION_KEYS for f in leaves)
        self.derivation = derivation
        self.stored = (
            stored
            and ctx.stored
            and not q.include_bots
            and all(_is_acquisition(f) for f in q.filters)
        )
        # `ev` itself from the stored session events (person resolved, narrow): for queries
        # without any filter that read no property (the report says so).
        self.stored_events = stored_events and ctx.stored and not q.include_bots and not q.filters

    @property
    def all_sessions_count(self) -> bool:
        """Every session of `sessions` is `ok` and `sx` holds only their events (stored
        sessions, no filter): a report can read `sx` without joining `sessions` on `ok`."""
        return self.stored and not self.q.filters

    def p(self, value: Any) -> str:
        return self.params.add(value)

    def prop(self, key: str, column: str = "properties") -> str:
        """A JSON column's key as text. Reading event properties downstream of `ev` makes `ev`
        carry the (large) properties column, so ask for them before `ctes()` is built."""
        if not column.startswith("e."):
            if self._built and not self._wide:
                raise RuntimeError("scope.prop() after ctes(): compile conditions first")
            self._wide = True
        return self.d.prop(column, key, self.params)

    def local(self, ts: str = "ts") -> str:
        return self.d.local(ts, self.tz)

    def period_number(self, unit: Unit, week_start: str = "monday", ts: str = "ts") -> str:
        """SQL of the number of the local hour/day/week/month holding `ts` (UTC), as
        `Dialect.period_number` counts them: by arithmetic on the epoch when the zone's UTC
        offset does not change over the times read (no per-row zone conversion), else
        through the local time."""
        offset = fixed_offset_us(self.rng.tz, self.rng.utc_from - self._lookback, self.rng.utc_to)
        if unit == "month" or offset is None:
            return self.d.period_number(unit, self.local(ts), week_start)
        return self.d.period_number_shifted(unit, ts, self.p(offset), week_start)

    def resolve(self, f: PropertyFilter) -> str:
        """SQL text of a filter's key in `ev` (acquisition keys: in `sessions`, prefixed s_)."""
        if f.source == "person":
            alias = self._person_keys.setdefault(f.key, f"pp{len(self._person_keys)}")
            return f"{alias}"
        if f.key in COLUMN_KEYS:
            return COLUMN_KEYS[f.key]
        return self.prop(f.key)

    def where(self, filters: list[Filter], acquisition: bool) -> str:
        """Condition on the filters about events (acquisition=False) or on sessions' entry."""
        picked = [f for f in filters if _is_acquisition(f) == acquisition]
        return compile_filters(picked, self.resolve, self.d, self.params)

    def ctes(self, sessions: bool = False, names: list[str] | None = None) -> str:
        """`idu`, `ida`, `ev` (and `sx`, `sessions`). `names` narrows `ev` to events of those names
        plus nothing else (reports that need only some events).

        With sessions, `ev` reaches a session cap past the range's end: a session belongs to
        the range its start is in and counts all its events (`in_range` still marks the
        events of the range itself)."""
        if sessions and self.stored:
            self._built = True
            return "WITH " + self._stored_ctes()
        if self.stored_events and not sessions:
            self._built = True
            return "WITH " + self._stored_ev(names)
        wide = self._wide
        event_cond = self.where(self.q.filters, acquisition=False)  # evaluated inside ev
        self._wide = wide
        scan_hi = self.hi
        if sessions:
            scan_hi = self.p(self.rng.utc_to + timedelta(microseconds=SESSION_CAP_US))
        parts = [self._ids(), self._ev(event_cond, names, scan_hi)]
        self._built = True
        if sessions:
            parts += [self._eng(), self._sx(), self._sessions()]
        return "WITH " + ",\n".join(parts)

    def _stored_ctes(self) -> str:
        """`sx` and `sessions` read from the stored tables: the sessions that start in the
        range, with the same columns as the derived ones (every event selected: stored
        sessions serve only queries without event-level filters)."""
        names = [
            PERSON_BY_NUMBER if c == "pnum" else c
            for c, _ in SESSION_EVENT_COLUMNS
            if c not in ("workspace_id", "person", "sstart")
        ]
        session = [
            PERSON_BY_NUMBER if c == "pnum" else c
            for c, _ in STORED_SESSION_COLUMNS
            if c != "person"
        ]
        return (
            f"sx AS (SELECT {', '.join(names)}, TRUE AS sel, TRUE AS in_range "
            f"FROM session_events WHERE workspace_id = {self.ws} AND sstart >= {self.lo} "
            f"AND sstart <= {self.hi}),\n"
            f"sessions AS (SELECT {', '.join(session)}, pageviews AS sel_pageviews, "
            "conversions AS sel_conversions, 1 AS any_sel, "
            f"({self._session_filter()}) AS ok FROM stored_sessions "
            f"WHERE workspace_id = {self.ws} AND start >= {self.lo} AND start <= {self.hi})"
        )

    def _stored_ev(self, names: list[str] | None) -> str:
        """`ev` from `session_events`: every event but `$engagement` (which a query of this
        kind never asks for), people as the stored sessions resolved them."""
        only = f" AND event_name IN {self.p(names)}" if names else ""
        return (
            f"ev AS (SELECT {PERSON_BY_NUMBER}, ts, uuid, event_name, type, event, path, url, "
            f"title, search_keyword, TRUE AS sel, (ts >= {self.lo} AND ts <= {self.hi}) "
            f"AS in_range FROM session_events WHERE workspace_id = {self.ws} "
            f"AND ts >= {self.scan_lo} AND ts <= {self.hi}{only})"
        )

    def pv_flags(self, sx: str = "sx") -> tuple[str, str]:
        """SQL of (first pageview of its session, last pageview of its session) for a
        `$pageview` row of `sx`: stored, or by window functions over the session's
        pageviews (in a query over pageviews only)."""
        if self.stored:
            return f"{sx}.pv_first", f"{sx}.pv_last"
        order = f"PARTITION BY {sx}.person, {sx}.sid ORDER BY {sx}.ts{{0}}, {sx}.uuid{{0}}"
        return (
            f"(row_number() OVER ({order.format('')}) = 1)",
            f"(row_number() OVER ({order.format(' DESC')}) = 1)",
        )

    def path_first(self, sx: str = "sx") -> str:
        """SQL: a `$pageview` row of `sx` is its session's first view of that path (so the
        pages report counts sessions per path without a distinct count)."""
        if self.stored:
            return f"{sx}.path_first"
        return (
            f"(row_number() OVER (PARTITION BY {sx}.person, {sx}.sid, coalesce({sx}.path, '') "
            f"ORDER BY {sx}.ts, {sx}.uuid) = 1)"
        )

    def _ids(self) -> str:
        return identity_ctes(self.ws)

    def _ev(self, event_cond: str, names: list[str] | None, scan_hi: str) -> str:
        bots = "" if self.q.include_bots else " AND NOT coalesce(e.is_bot, FALSE)"
        name = (
            "CASE WHEN e.type = 'page' THEN '$pageview' WHEN e.type = 'screen' THEN '$screen'"
            " ELSE e.event END"
        )
        only = f" AND ({name}) IN {self.p(names)}" if names else ""
        person_cols, person_join = self._person_props()
        d, engagement = self.d, "e.type = 'track' AND e.event = '$engagement'"
        pvid = self.prop("pageview_id", "e.properties")
        ms = d.to_number(self.prop("engaged_ms", "e.properties"))
        scroll = d.to_number(self.prop("scroll_depth", "e.properties"))
        load = d.to_number(self.prop("perf_load_ms", "e.properties"))
        keep = [c for c in EV_NAMES if c != "properties" or self._wide]
        narrow = people = ""
        if self.derivation is not None:
            narrow = f" AND ({self.derivation.events})"
            people = f" AND ({self.derivation.people})"
        return (
            f"ev0 AS (SELECT {EV_COLUMNS}, e.message_id AS uuid, e.timestamp AS ts, "
            f"{name} AS event_name, {PERSON} AS person, "
            f"CASE WHEN e.type = 'page' THEN {pvid} END AS pvid, "
            f"CASE WHEN {engagement} THEN {pvid} END AS eng_pvid, "
            f"CASE WHEN {engagement} THEN {ms} END AS raw_eng_ms, "
            f"CASE WHEN {engagement} THEN {scroll} END AS raw_scroll, "
            f"CASE WHEN e.type = 'page' THEN {load} END AS load_ms "
            f"FROM events e {PERSON_JOINS} "
            f"WHERE e.workspace_id = {self.ws} AND e.timestamp >= {self.scan_lo} "
            f"AND e.timestamp <= {scan_hi} AND e.type IN ('page', 'screen', 'track')"
            f"{bots}{only}{narrow}),\n"
            f"ev AS (SELECT {', '.join('ev0.' + c for c in keep)}{person_cols}, "
            f"({event_cond}) AS sel, "
            f"(ev0.ts >= {self.lo} AND ev0.ts <= {self.hi}) AS in_range FROM ev0{person_join} "
            f"WHERE ev0.person IS NOT NULL{people})"
        )

    def _person_props(self) -> tuple[str, str]:
        """Person traits used by filters: the latest value each person was given."""
        for f in iter_filters(self.q.filters):
            if f.source == "person":
                self.resolve(f)
        if not self._person_keys:
            return "", ""
        cols = []
        for key, alias in self._person_keys.items():
            value = self.prop(key, "e.traits")
            cols.append(
                f"{self.d.arg_max_if(value, 'e.timestamp', f'{value} IS NOT NULL')} AS {alias}"
            )
        cte = (
            f"(SELECT {PERSON} AS pid, {', '.join(cols)} FROM events e {PERSON_JOINS} "
            f"WHERE e.workspace_id = {self.ws} AND e.traits IS NOT NULL GROUP BY pid) pp"
        )
        select = "".join(f", pp.{a} AS {a}" for a in self._person_keys.values())
        return select, f" LEFT JOIN {cte} ON ev0.person = pp.pid"

    def _eng(self) -> str:
        """Engagement per pageview: the `$engagement` events that name it, summed and capped
        at the session timeout; the deepest scroll."""
        cap = self.p(float(self.ctx.settings.session_timeout_minutes * 60_000))
        return (
            "eng AS (SELECT person AS eperson, eng_pvid AS epvid, "
            f"least(sum(greatest(coalesce(raw_eng_ms, 0.0), 0.0)), {cap}) AS eng_ms, "
            "max(raw_scroll) AS eng_scroll FROM ev "
            "WHERE event_name = '$engagement' GROUP BY eperson, epvid)"
        )

    def _sx(self) -> str:
        """Events numbered into sessions: a new one after a gap over the timeout (and, when
        the workspace splits, at local midnight or on a new campaign); 24 h at most."""
        d = self.d
        timeout = self.p(self.ctx.settings.session_timeout_minutes * 60_000_000)
        w = "OVER (PARTITION BY person ORDER BY ts, uuid)"
        gap = f"prev_ts IS NULL OR {d.epoch_us('ts')} - {d.epoch_us('prev_ts')} > {timeout}"
        steps = (
            f"g1 AS (SELECT person, ts, {d.prev('ts')} {w} AS prev_ts FROM ev "
            "WHERE event_name <> '$engagement'),\n"
        )
        cond = gap
        if self.ctx.settings.session_split == "midnight_campaign":
            # A campaign differing from the last one seen since the last timeout gap (never
            # from before it: the gap starts a session anyway, and what came before it must
            # not change where later sessions start).
            day = f"{d.trunc_text('day', self.local())}"
            steps = (
                f"g0 AS (SELECT person, ts, uuid, campaign, {d.prev('ts')} {w} AS prev_ts, "
                f"{d.prev(day)} {w} AS prev_day, {day} AS this_day FROM ev "
                "WHERE event_name <> '$engagement'),\n"
                f"g0r AS (SELECT g0.*, sum(CASE WHEN {gap} THEN 1 ELSE 0 END) OVER (PARTITION BY "
                "person ORDER BY ts, uuid ROWS UNBOUNDED PRECEDING) AS grun FROM g0),\n"
                f"g1 AS (SELECT g0r.*, {d.last_non_null('campaign')} OVER (PARTITION BY person, "
                "grun ORDER BY ts, uuid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) "
                "AS prev_campaign FROM g0r),\n"
            )
            cond += (
                " OR prev_day <> this_day OR (campaign IS NOT NULL AND prev_campaign IS NOT NULL"
                " AND campaign <> prev_campaign)"
            )
        since = f"{d.epoch_us('ts')} - {d.epoch_us('run_start')}"
        chunk = f"CAST(floor(({since}) / {SESSION_CAP_US}) AS BIGINT)"
        # `$engagement` events are measurements of a page already viewed: they join the
        # session before them and never start one (a tab left open for an hour would
        # otherwise make an engagement-only session).
        # Session boundaries from a narrow projection (one window pass), then every event
        # takes the latest boundary at or before it (an ASOF join): far cheaper than carrying
        # every column through several window passes. Events sharing a timestamp can never
        # straddle a boundary (their gap is 0), so joining on the time alone is exact.
        return (
            "evx AS (SELECT ev.*, eng.eng_ms AS eng_ms, eng.eng_scroll AS eng_scroll FROM ev "
            "LEFT JOIN eng ON ev.person = eng.eperson AND ev.pvid = eng.epvid),\n"
            f"{steps}bnd AS (SELECT DISTINCT person AS bperson, ts AS bts FROM g1 WHERE {cond}),\n"
            "g2 AS (SELECT evx.*, bnd.bts AS run_start FROM evx ASOF JOIN bnd "
            "ON evx.person = bnd.bperson AND evx.ts >= bnd.bts),\n"
            # The session's id within its person: its run's start (µs) plus its 24-hour
            # chunk's number, unique since a run's chunk c starts at least c days after the
            # run, before any later run begins.
            f"sx AS (SELECT g2.*, {d.epoch_us('run_start')} + {chunk} AS sid FROM g2)"
        )

    def _sessions(self) -> str:
        """One row per session: start, entry attributes, counts; `ok` = passes the
        acquisition filters and holds an event that passes the event filters."""
        d = self.d
        key = d.tuple_("ts", "uuid")
        empty = self.p("")
        entry = ", ".join(
            f"{d.arg_min(f'coalesce({c}, {empty})', key)} AS s_{c}" for c in ENTRY_COLUMNS
        )
        conv = self.conversion_cond()
        page = "event_name IN ('$pageview', '$screen')"
        return (
            f"s0 AS (SELECT person, sid, min(run_start) AS run_start, min(ts) AS start, "
            f"max(ts) AS last_ts, {entry}, "
            f"sum(CASE WHEN {page} THEN 1 ELSE 0 END) AS pageviews, "
            f"sum(CASE WHEN {conv} THEN 1 ELSE 0 END) AS conversions, "
            "sum(coalesce(eng_ms, 0)) AS engaged_ms, "
            f"sum(CASE WHEN sel AND {page} THEN 1 ELSE 0 END) AS sel_pageviews, "
            f"sum(CASE WHEN sel AND {conv} THEN 1 ELSE 0 END) AS sel_conversions, "
            "max(CASE WHEN sel THEN 1 ELSE 0 END) AS any_sel, "
            f"{d.arg_min_if('path', key, page)} AS entry_path, "
            f"{d.arg_max_if('path', key, page)} AS exit_path "
            "FROM sx GROUP BY person, sid),\n"
            f"sessions AS (SELECT s0.*, ({self._session_filter()}) AND any_sel = 1 "
            f"AND start >= {self.lo} AND start <= {self.hi} AS ok FROM s0)"
        )

    def _session_filter(self) -> str:
        picked = [f for f in self.q.filters if _is_acquisition(f)]
        return compile_filters(picked, lambda f: "s_" + COLUMN_KEYS[f.key], self.d, self.params)

    def conversion_cond(self) -> str:
        events = list(self.ctx.settings.conversion_events)
        if not events:
            return "FALSE"
        return f"(type = 'track' AND event IN {self.p(events)})"


# Stored rows stand for their person by number (`derive_people`): integer keys join, group
# and count distinct several times faster than identifier strings. Reports that show people
# map the numbers back (`stored.person_ids`).
PERSON_BY_NUMBER = "pnum AS person"


def fixed_offset_us(tz: str, utc_from: datetime, utc_to: datetime) -> int | None:
    """The zone's UTC offset in µs if it is the same at every moment from `utc_from` to
    `utc_to` (naive UTC), else None. Checked day by day: zones change their offset at most a
    few times a year, and never twice within a day."""
    zone = ZoneInfo(tz)
    lo, hi = max(utc_from, datetime(1970, 1, 2)), min(utc_to, datetime(2200, 1, 1))
    first = lo.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    t = lo
    while True:
        if t.replace(tzinfo=UTC).astimezone(zone).utcoffset() != first:
            return None
        if t >= hi:
            break
        t = min(t + timedelta(days=1), hi)
    assert first is not None
    return int(first.total_seconds() * 1_000_000)


def _is_acquisition(f: Filter) -> bool:
    """A filter (or group) made only of acquisition keys is matched on sessions' entry."""
    leaves = iter_filters([f])
    return bool(leaves) and all(x.key in ACQUISITION_KEYS and x.source == "event" for x in leaves)


def freshness(ctx: ReportContext) -> str | None:
    """The newest `received_at` of the workspace (UTC, ISO 8601), so a report shows how fresh
    its data is and an ingestion delay is not mistaken for missing data."""
    params = Params(ctx.engine.dialect)
    ws = params.add(ctx.workspace_id)
    d = ctx.engine.dialect
    rows = ctx.engine.rows(
        f"SELECT max({d.epoch_us('received_at')}) FROM events WHERE workspace_id = {ws}",
        params.values,
    )
    newest = rows[0][0] if rows else None
    if newest is None:
        return None
    from datetime import UTC

    return datetime.fromtimestamp(int(newest) / 1e6, UTC).isoformat().replace("+00:00", "Z")
