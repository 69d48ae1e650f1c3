"""Production as data and as a process: its image, requirements, toolkit and comparison."""
