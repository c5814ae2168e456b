#!/usr/bin/env python
"""Django's command-line utility for the symphra_django demo project."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run from a clone without installing: make the repository importable.
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
