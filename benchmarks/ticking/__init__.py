"""The every-second periodic task of benchmarks/ticks.py (an app of its own,
so that the other benchmarks' runscheduler processes enqueue no ticks)."""
