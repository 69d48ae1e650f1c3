"""The live handler and its reload: load handler.py as production does, swap new code in."""
