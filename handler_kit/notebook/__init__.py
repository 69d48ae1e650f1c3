"""The notebook: magics, the payload form, result tables, papermill runs."""
