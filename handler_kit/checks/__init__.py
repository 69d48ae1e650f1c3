"""Ready to deploy? The check of a repository, as production will start it."""
