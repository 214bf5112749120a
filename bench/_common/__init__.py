"""Pieces the benchmarks share, so each bench measures the same workload the same way.

``text`` (the synthetic memories, conversations and queries), ``loopback`` (the loopback OpenAI
server process: its stdin / stdout command loop and the client that drives it), ``engine`` (the
engine configuration against that server), ``machine`` (what a report says about the machine),
``measure`` (percentiles), ``procs`` (a child process speaking JSON lines, and the ``PYTHONPATH``
that makes one import another copy of the repository).

A bench script is run by path (``.venv/bin/python bench/<name>/bench_<name>.py``), so it puts the
repository root on ``sys.path`` first and imports ``bench._common`` (a namespace package: ``bench``
has no ``__init__``).
"""
