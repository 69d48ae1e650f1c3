"""Production as data and as a process: its image and requirements, the toolkit, its venvs and
servers, and the comparison of its answers with the kit's."""
