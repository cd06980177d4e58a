"""The quarantine: messages that failed, kept with their raw payload and reason, replayable."""

from haina.quarantine.service import QuarantineEntry, list_entries, replay, show_entry

__all__ = ["QuarantineEntry", "list_entries", "replay", "show_entry"]
