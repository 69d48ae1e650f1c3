"""The notebook: magics, the payload form, result tables, Colab, papermill runs."""
