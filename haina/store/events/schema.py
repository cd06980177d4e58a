"""The event and quarantine tables: one definition, used for DDL, Arrow batches and exports."""

from __future__ import annotations

import pyarrow as pa

# (column, DuckDB type). Times are UTC (TIMESTAMP without zone, microseconds).
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace_id", "VARCHAR"),
    ("source_id", "VARCHAR"),
    ("message_id", "VARCHAR"),
    ("type", "VARCHAR"),
    ("event", "VARCHAR"),
    ("name", "VARCHAR"),
    ("anonymous_id", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("group_id", "VARCHAR"),
    ("previous_id", "VARCHAR"),
    ("timestamp", "TIMESTAMP"),
    ("original_timestamp", "TIMESTAMP"),
    ("sent_at", "TIMESTAMP"),
    ("received_at", "TIMESTAMP"),
    ("url", "VARCHAR"),
    ("host", "VARCHAR"),
    ("path", "VARCHAR"),
    ("referrer", "VARCHAR"),
    ("title", "VARCHAR"),
    ("properties", "JSON"),
    ("traits", "JSON"),
    ("context", "JSON"),
    ("extra", "JSON"),
    ("library_name", "VARCHAR"),
    ("library_version", "VARCHAR"),
    ("ip", "VARCHAR"),
    ("user_agent", "VARCHAR"),
    ("browser", "VARCHAR"),
    ("browser_version", "VARCHAR"),
    ("os", "VARCHAR"),
    ("os_version", "VARCHAR"),
    ("device_type", "VARCHAR"),
    ("is_bot", "BOOLEAN"),
    ("channel", "VARCHAR"),
    ("source", "VARCHAR"),
    ("medium", "VARCHAR"),
    ("campaign", "VARCHAR"),
    ("term", "VARCHAR"),
    ("content", "VARCHAR"),
    ("referrer_host", "VARCHAR"),
    ("click_id", "VARCHAR"),
    ("search_keyword", "VARCHAR"),
    ("country", "VARCHAR"),
    ("region", "VARCHAR"),
    ("city", "VARCHAR"),
    ("plan_violations", "JSON"),
    # Identifiers besides user_id / anonymous_id, normalised: [[type, value], ...] from traits,
    # context.traits, context.externalIds and an alias's previousId (haina/pipeline/identity.py).
    ("identities", "JSON"),
)

EVENT_COLUMN_NAMES: tuple[str, ...] = tuple(c for c, _ in EVENT_COLUMNS)

_ARROW = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "BOOLEAN": pa.bool_(),
}
EVENT_ARROW_SCHEMA = pa.schema([(c, _ARROW[t]) for c, t in EVENT_COLUMNS])

QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("workspace_id", "VARCHAR"),
    ("source_id", "VARCHAR"),
    ("received_at", "TIMESTAMP"),
    ("request_id", "VARCHAR"),
    ("message_index", "INTEGER"),
    ("message_id", "VARCHAR"),
    ("field", "VARCHAR"),
    ("code", "VARCHAR"),
    ("reason", "VARCHAR"),
    # The raw payload: JSON text of the message, or base64 of bytes that were not JSON.
    ("payload", "VARCHAR"),
    ("payload_encoding", "VARCHAR"),
    # Request facts replay needs: client ip, user agent, batch sentAt/context.
    ("request_meta", "JSON"),
    ("status", "VARCHAR"),
    ("replayed_at", "TIMESTAMP"),
)
QUARANTINE_COLUMN_NAMES: tuple[str, ...] = tuple(c for c, _ in QUARANTINE_COLUMNS)
_ARROW_Q = dict(_ARROW, INTEGER=pa.int32())
QUARANTINE_ARROW_SCHEMA = pa.schema([(c, _ARROW_Q[t]) for c, t in QUARANTINE_COLUMNS])


# Stored sessions (derived from `events` by haina/query/stored.py, rebuildable at any time):
# one row per session, and the session's events (all but `$engagement`) in narrow form.
SESSION_ENTRY_COLUMNS = (
    "channel", "source", "medium", "campaign", "term", "content", "referrer_host", "click_id",
)  # fmt: skip
STORED_SESSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace_id", "VARCHAR"),
    ("person", "VARCHAR"),
    ("pnum", "BIGINT"),  # the person's number in `derive_people`: integer keys join fast
    ("sid", "BIGINT"),
    ("run_start", "TIMESTAMP"),
    ("start", "TIMESTAMP"),
    ("last_ts", "TIMESTAMP"),
    *((f"s_{c}", "VARCHAR") for c in SESSION_ENTRY_COLUMNS),
    ("pageviews", "BIGINT"),
    ("conversions", "BIGINT"),
    ("engaged_ms", "DOUBLE"),
    ("entry_path", "VARCHAR"),
    ("exit_path", "VARCHAR"),
)
SESSION_EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace_id", "VARCHAR"),
    ("person", "VARCHAR"),
    ("pnum", "BIGINT"),
    ("sid", "BIGINT"),
    ("sstart", "TIMESTAMP"),
    ("ts", "TIMESTAMP"),
    ("uuid", "VARCHAR"),
    ("event_name", "VARCHAR"),
    ("type", "VARCHAR"),
    ("event", "VARCHAR"),
    ("path", "VARCHAR"),
    ("url", "VARCHAR"),
    ("title", "VARCHAR"),
    ("search_keyword", "VARCHAR"),
    ("eng_ms", "DOUBLE"),
    ("eng_scroll", "DOUBLE"),
    ("load_ms", "DOUBLE"),
    ("pv_first", "BOOLEAN"),
    ("pv_last", "BOOLEAN"),
    ("path_first", "BOOLEAN"),  # the session's first pageview of this path
    # Runs of pageviews of one path (the paths report collapses each to its last pageview):
    # whether this pageview ends its run, the run's number in the session, the session's runs.
    ("run_last", "BOOLEAN"),
    ("run_k", "BIGINT"),
    ("runs", "BIGINT"),
)
# What stored sessions need besides the two tables: the identifiers each commit touched
# (written by the commit, consumed by the next refresh), the identity graph's moves, and per
# workspace the settings they were derived with.
DERIVE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "derive_queue": (
        ("workspace_id", "VARCHAR"), ("anonymous_id", "VARCHAR"), ("user_id", "VARCHAR"),
        ("min_ts", "TIMESTAMP"),
    ),
    # People whose identifiers the identity graph moved to another person since the last
    # refresh (haina/identity/store.py writes them): both are re-derived whole.
    "derive_moves": (
        ("workspace_id", "VARCHAR"), ("old_person", "VARCHAR"), ("new_person", "VARCHAR"),
    ),
    # Each person of the stored tables numbered 1, 2, ... per workspace (kept by refreshes,
    # renumbered by a rebuild): reports key on numbers, not on long identifier strings.
    "derive_people": (("workspace_id", "VARCHAR"), ("person", "VARCHAR"), ("pnum", "BIGINT")),
    "derive_state": (
        ("workspace_id", "VARCHAR"), ("fingerprint", "VARCHAR"), ("refreshed_at", "TIMESTAMP"),
    ),
}  # fmt: skip
# The identity graph (haina/identity/store.py), rebuildable from `events`: the identifiers each
# commit carried (consumed by the next refresh), every identifier with its profile, the
# messages that linked identifiers (one row per identifier), the merges, and per workspace the
# rules the graph was built with.
IDENTITY_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "identity_queue": (
        ("workspace_id", "VARCHAR"), ("anonymous_id", "VARCHAR"), ("user_id", "VARCHAR"),
        ("identities", "VARCHAR"), ("ts", "TIMESTAMP"), ("message_id", "VARCHAR"),
    ),
    "identity_nodes": (
        ("workspace_id", "VARCHAR"), ("id_type", "VARCHAR"), ("id_value", "VARCHAR"),
        ("person_id", "VARCHAR"), ("first_ts", "TIMESTAMP"), ("first_mid", "VARCHAR"),
    ),
    "identity_edges": (
        ("workspace_id", "VARCHAR"), ("edge", "VARCHAR"), ("ts", "TIMESTAMP"),
        ("message_id", "VARCHAR"), ("id_type", "VARCHAR"), ("id_value", "VARCHAR"),
    ),
    "identity_merges": (
        ("workspace_id", "VARCHAR"), ("merge_id", "VARCHAR"), ("person_id", "VARCHAR"),
        ("merged_at", "TIMESTAMP"), ("message_id", "VARCHAR"), ("into_type", "VARCHAR"),
        ("into_value", "VARCHAR"), ("merged_type", "VARCHAR"), ("merged_value", "VARCHAR"),
        ("merged_person_id", "VARCHAR"), ("identifiers", "VARCHAR"),
    ),
    "identity_state": (
        ("workspace_id", "VARCHAR"), ("fingerprint", "VARCHAR"), ("refreshed_at", "TIMESTAMP"),
    ),
}  # fmt: skip
# Rule and inferred tags, and lead scores, as of the last refresh (haina/profiles/tags.py,
# haina/scoring/engine.py): recomputed from events, so derived.
PEOPLE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "person_tags": (
        ("workspace_id", "VARCHAR"), ("person_id", "VARCHAR"), ("tag", "VARCHAR"),
        ("kind", "VARCHAR"), ("confidence", "DOUBLE"), ("rule", "VARCHAR"),
        ("explanation", "VARCHAR"), ("since", "TIMESTAMP"),
    ),
    "person_scores": (
        ("workspace_id", "VARCHAR"), ("person_id", "VARCHAR"), ("score", "DOUBLE"),
        ("grade", "VARCHAR"), ("fit", "DOUBLE"), ("engagement", "DOUBLE"), ("stage", "VARCHAR"),
        ("contributions", "VARCHAR"), ("updated_at", "TIMESTAMP"),
    ),
}  # fmt: skip
DERIVED_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "stored_sessions": STORED_SESSION_COLUMNS,
    "session_events": SESSION_EVENT_COLUMNS,
    **DERIVE_COLUMNS,
    **IDENTITY_COLUMNS,
    **PEOPLE_COLUMNS,
}
# Who is in each saved segment since when (haina/segments/service.py): static segments'
# snapshots, dynamic segments' membership as of their last refresh.
SEGMENT_MEMBER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace_id", "VARCHAR"), ("segment_id", "VARCHAR"), ("person_id", "VARCHAR"),
    ("since", "TIMESTAMP"),
)  # fmt: skip
IDENTITY_BLOCK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace_id", "VARCHAR"), ("a_type", "VARCHAR"), ("a_value", "VARCHAR"),
    ("b_type", "VARCHAR"), ("b_value", "VARCHAR"), ("merge_id", "VARCHAR"),
    ("created_at", "TIMESTAMP"), ("created_by", "VARCHAR"), ("reason", "VARCHAR"),
)  # fmt: skip
# Tables that are not derived (people's input and history), kept across versions:
# - identity_blocks: an admin's splits (pairs of identifiers never one profile);
# - segment_members: who is in each saved segment since when;
# - manual_tags: tags put on identifiers by people;
# - score_history: each person's score over time, with why it changed.
KEPT_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "identity_blocks": IDENTITY_BLOCK_COLUMNS,
    "segment_members": SEGMENT_MEMBER_COLUMNS,
    "manual_tags": (
        ("workspace_id", "VARCHAR"), ("id_type", "VARCHAR"), ("id_value", "VARCHAR"),
        ("tag", "VARCHAR"), ("created_at", "TIMESTAMP"), ("created_by", "VARCHAR"),
    ),
    "score_history": (
        ("workspace_id", "VARCHAR"), ("person_id", "VARCHAR"), ("changed_at", "TIMESTAMP"),
        ("score", "DOUBLE"), ("grade", "VARCHAR"), ("stage", "VARCHAR"), ("why", "VARCHAR"),
    ),
}  # fmt: skip


def ddl() -> list[str]:
    """Statements that create the store's tables (idempotent)."""
    events = ", ".join(f'"{c}" {t}' for c, t in EVENT_COLUMNS)
    quarantine = ", ".join(f'"{c}" {t}' for c, t in QUARANTINE_COLUMNS)
    return [
        f"CREATE TABLE IF NOT EXISTS events ({events})",
        f"CREATE TABLE IF NOT EXISTS quarantine ({quarantine}, PRIMARY KEY (id))",
        # messageIds seen recently, for deduplication over at least `dedup_days`.
        "CREATE TABLE IF NOT EXISTS dedup (workspace_id VARCHAR, message_id VARCHAR,"
        " received_at TIMESTAMP, PRIMARY KEY (workspace_id, message_id))",
        "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        *(
            f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(f'{c} {t}' for c, t in cols)})"
            for name, cols in {**DERIVED_TABLES, **KEPT_TABLES}.items()
        ),
    ]
