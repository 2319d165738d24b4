"""The reliability suite reuses the conformance suite's fixtures (Postgres; REST via the emulator)."""

from client.conftest import ANON_KEY, BASE_URL, JWT_SECRET, SERVICE_KEY, Env, backend, emulator, router

__all__ = ["ANON_KEY", "BASE_URL", "JWT_SECRET", "SERVICE_KEY", "Env", "backend", "emulator", "router"]
