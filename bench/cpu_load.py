"""How much of the machine's CPU other processes used while a benchmark ran (Linux).

The load average cannot say it: it is a one-minute moving average, so a machine
whose other work was just paused (`kill -STOP`) still reads busy for minutes, and a
run whose neighbour started halfway reads idle. This counts CPU time instead, from
`/proc/stat` (the whole machine) minus this process's own time, its waited-for
children's and that of its descendants still alive at the end (compile workers):

    load = OtherLoad()
    ...  # the benchmark
    load.share()  # e.g. 0.004: other processes used 0.4% of all cores' time
"""

import os
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_seconds(stat_path="/proc/stat"):
    """CPU seconds every core spent outside idle and iowait since boot, or None off Linux."""
    try:
        with open(stat_path, encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already inside user time in /proc/stat: count the first 8 fields only.
    return (sum(fields[:8]) - idle) / _TICK


def _descendants_seconds(pid, proc="/proc"):
    """CPU seconds of the live descendants of `pid` (user + system, from /proc/PID/stat)."""
    children, seconds = {}, {}
    try:
        names = os.listdir(proc)
    except OSError:
        return 0.0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, "stat"), encoding="ascii", errors="replace") as f:
                after_name = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        children.setdefault(int(after_name[1]), []).append(int(name))  # field 4: ppid
        seconds[int(name)] = (int(after_name[11]) + int(after_name[12])) / _TICK  # fields 14, 15
    total, queue = 0.0, list(children.get(pid, []))
    while queue:
        child = queue.pop()
        total += seconds.get(child, 0.0)
        queue += children.get(child, [])
    return total


def _own_seconds():
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system + _descendants_seconds(os.getpid())


class OtherLoad:
    """Started at construction; `share()` is the other processes' CPU time since then, as a
    fraction of all cores' time (0: idle machine, 1: every core busy with other work)."""

    def __init__(self):
        self.started = time.monotonic()
        self.machine = machine_busy_seconds()
        self.own = _own_seconds()

    def share(self):
        """The fraction, or None where `/proc/stat` is missing."""
        machine = machine_busy_seconds()
        if machine is None or self.machine is None:
            return None
        elapsed = (time.monotonic() - self.started) * (os.cpu_count() or 1)
        others = (machine - self.machine) - (_own_seconds() - self.own)
        return max(0.0, others / elapsed) if elapsed > 0 else 0.0
