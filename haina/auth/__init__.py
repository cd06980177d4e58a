"""Who may call the API: workspace-scoped API tokens and the local server token."""
