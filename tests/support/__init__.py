"""Helpers the test suite shares across conftest modules and tests (``pythonpath = ["tests"]``)."""
