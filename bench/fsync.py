#!/usr/bin/env python3
"""fsync.py DIR [N]: the disk's fdatasync latency for an appended line, as a durable send's
intent pays it: N times (200) append a 100-byte line to a file in DIR and fdatasync it.
Prints the median and the 90th percentile in microseconds ("median p90"). Stdlib only.

Every send waits for its intent's fdatasync before the request leaves, and a lane's intent
that arrives while another batch's fsync runs waits for that one and then its own: about
1.5 fsyncs a send. So at concurrency C no run can beat C / (1.5 x fsync) sends/s, whatever
its CPU, and `wrk` pays no fsync: the figure says how much of the gap is the disk's.
"""
import os
import sys
import tempfile
import time

folder = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
fd, path = tempfile.mkstemp(dir=folder, prefix="fsync.")
try:
    took = []
    for _ in range(n):
        os.write(fd, b"x" * 99 + b"\n")
        start = time.perf_counter()
        os.fdatasync(fd)
        took.append(time.perf_counter() - start)
finally:
    os.close(fd)
    os.unlink(path)
took.sort()
print(f"{took[len(took) // 2] * 1e6:.0f} {took[len(took) * 9 // 10] * 1e6:.0f}")
