"""The dashboard's People pages: profiles, segments, tag rules and the lead-scoring model.

They call the same services as the profiles, segments, tags and scoring APIs, for the
workspace of the logged-in viewer (docs/dashboard.md, "People").
"""
