"""The quarantine: messages that failed, kept with their raw payload and reason, replayable."""

from haina.quarantine.service import QuarantineEntry, discard, list_entries, replay, show_entry

__all__ = ["QuarantineEntry", "discard", "list_entries", "replay", "show_entry"]
