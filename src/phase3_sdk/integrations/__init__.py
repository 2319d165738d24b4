"""Glue for web frameworks; each submodule needs its framework's extra (``phase3-sdk[fastapi]``)."""
