"""The vendored front-end libraries are the files their README says, with their licences."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).parents[2] / "haina" / "web" / "static" / "vendor"


def test_vendored_files_match_the_checksums_and_versions_in_the_readme() -> None:
    readme = (VENDOR / "README.md").read_text()
    checksums = re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M)
    listed = {name: digest for digest, name in checksums}
    assert set(listed) == {"echarts.min.js", "htmx.min.js"}
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "echarts-6.1.0.tgz" in readme and "htmx.org-2.0.11.tgz" in readme
    # The minified build keeps its licence header.
    assert (
        b"Licensed to the Apache Software Foundation"
        in (VENDOR / "echarts.min.js").read_bytes()[:500]
    )


def test_each_library_ships_with_its_licence() -> None:
    assert "Apache License" in (VENDOR / "echarts-LICENSE").read_text()
    assert "Apache ECharts" in (VENDOR / "echarts-NOTICE").read_text()
    assert "Zero-Clause BSD" in (VENDOR / "htmx-LICENSE").read_text()
    assert (VENDOR / "echarts-LICENSE-d3").is_file()
