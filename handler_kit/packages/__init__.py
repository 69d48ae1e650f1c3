"""Packages as pip and Python see them, pure data below the reload and production: production's
image (the packages it pins), requirements.txt as its pip reads it, what an interpreter has
installed, and which distribution provides a module (what to do when one is missing)."""
