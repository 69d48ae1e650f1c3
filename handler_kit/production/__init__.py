"""Production as a process: the toolkit's source, its venvs and real server, and the
comparison of its answers with the kit's (its image and requirements as data are
``handler_kit.packages``)."""
