"""Run one Python block of a docs page in the project of the current directory.

Usage: ``python run_python.py PAGE LINE < block``. Django is set up first
(``DJANGO_SETTINGS_MODULE`` from the environment), as in ``manage.py shell``;
the code is compiled as if it stood at LINE of PAGE, so a traceback points
at the page's own line.
"""

import os
import sys

import django

sys.path.insert(0, os.getcwd())  # the project's packages, as manage.py has them
django.setup()

page, line = sys.argv[1], int(sys.argv[2])
source = sys.stdin.read()
exec(compile("\n" * (line - 1) + source, page, "exec"), {"__name__": "__main__"})
