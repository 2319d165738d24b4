"""What the tests stand on, beside the real embedded database of ``tests/conftest.py``.

* ``postgrest_emulator``: PostgREST and Supabase's gateway for respx, backed by the real database; the REST
  backend's only mock boundary, every behaviour taken from PostgREST's own source and specs.
* ``backends``: the two-backend fixtures (``backend``, ``emulator``, ``router``, ``users``) every area's tests
  share, loaded once as a pytest plugin by ``tests/conftest.py``, and the keys and clients they are made with.

``tests/`` is on the import path through pytest's ``pythonpath`` setting (pyproject.toml), so tests import
``support.backends`` plainly, with no ``sys.path`` edits of their own.
"""
