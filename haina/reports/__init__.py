"""Reports: one module per report kind."""
