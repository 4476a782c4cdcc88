from hypothesis import settings

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.pgbouncer", "tests.fixtures.server",
                  "tests.fixtures.clock"]

# Properties are about results, never about speed: no per-example deadline (a loaded CI machine
# would otherwise fail a correct example for being slow). Timing lives in bench/, not in tests.
settings.register_profile("regauth", deadline=None)
settings.load_profile("regauth")
