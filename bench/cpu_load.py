"""How much of the machine's CPU other processes, and the hypervisor, took while a benchmark ran (Linux).

The load average cannot say it: it is a one-minute moving average, so a machine
whose other work was just paused (`kill -STOP`) still reads busy for minutes, and a
run whose neighbour started halfway reads idle. This counts CPU time instead, from
`/proc/stat` (the whole machine) minus this process's own time, its waited-for
children's and that of its descendants still alive at the end (compile workers):

    load = OtherLoad()
    ...  # the benchmark
    load.share()        # e.g. 0.004: other processes used 0.4% of all cores' time
    load.steal_share()  # e.g. 0.15: the hypervisor gave 15% of this VM's cores' time to other guests

Steal time (`/proc/stat`'s 8th field) is time a virtual CPU was ready to run and the
host ran something else: on a shared VM it slows every contender of a benchmark,
unevenly, and no process of this machine causes it, so it is not counted as load.
"""

import os
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
BUSY_SHARE = 0.10  # a share of the CPUs' time taken by others above which a benchmark's report flags its run


def _cpu_fields(stat_path):
    try:
        with open(stat_path, encoding="ascii") as f:
            return [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None


def machine_busy_seconds(stat_path="/proc/stat"):
    """CPU seconds every core ran something since boot (not idle, iowait or steal), or None off Linux."""
    fields = _cpu_fields(stat_path)
    if fields is None:
        return None
    # user nice system idle iowait irq softirq steal; guest time is already inside user time.
    return (sum(fields[:3]) + sum(fields[5:7])) / _TICK


def machine_steal_seconds(stat_path="/proc/stat"):
    """CPU seconds the hypervisor took from this VM's cores since boot (0 on bare metal), or None off Linux."""
    fields = _cpu_fields(stat_path)
    if fields is None:
        return None
    return (fields[7] if len(fields) > 7 else 0) / _TICK


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
        self.steal = machine_steal_seconds()
        self.own = _own_seconds()

    def share(self):
        """The fraction, or None where `/proc/stat` is missing."""
        machine = machine_busy_seconds()
        if machine is None or self.machine is None:
            return None
        elapsed = (time.monotonic() - self.started) * (os.cpu_count() or 1)
        others = (machine - self.machine) - (_own_seconds() - self.own)
        return max(0.0, others / elapsed) if elapsed > 0 else 0.0

    def steal_share(self):
        """The hypervisor's steal time since then, as a fraction of all cores' time, or None."""
        steal = machine_steal_seconds()
        if steal is None or self.steal is None:
            return None
        elapsed = (time.monotonic() - self.started) * (os.cpu_count() or 1)
        return max(0.0, (steal - self.steal) / elapsed) if elapsed > 0 else 0.0
