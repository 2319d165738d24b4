# The client suite's two-backend fixtures (Postgres and REST through the PostgREST emulator), reused.
from client.conftest import backend, emulator, router, users

__all__ = ["backend", "emulator", "router", "users"]
