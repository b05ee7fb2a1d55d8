"""A fictional offline news site (six outlets, feeds and pages) for `make run` and the tests."""
