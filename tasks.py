"""This repository's tasks: the homeops namespace (a user's repo has the same two lines)."""

from homeops.tasks import ns  # noqa: F401
