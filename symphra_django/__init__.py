"""symphra_django: background tasks and periodic schedules for Django."""

__version__ = "0.1.0"
