"""bench/cpu_load.py: other processes' CPU time during a benchmark, from /proc."""

import os
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))
import cpu_load  # noqa: E402

TICK = cpu_load._TICK


def test_busy_seconds_leave_out_idle_iowait_and_steal_and_count_guest_once(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text(f"cpu  {100 * TICK} {10 * TICK} {20 * TICK} {500 * TICK} {50 * TICK} {TICK} {TICK} {40 * TICK} "
                    f"{30 * TICK} 0\ncpu0 1 2 3 4\n")
    assert cpu_load.machine_busy_seconds(str(stat)) == pytest.approx(132.0)
    assert cpu_load.machine_steal_seconds(str(stat)) == pytest.approx(40.0)
    assert cpu_load.machine_busy_seconds(str(tmp_path / "missing")) is None
    assert cpu_load.machine_steal_seconds(str(tmp_path / "missing")) is None
    stat.write_text("cpu  1 2 3 4 5 6 7\n")  # an old kernel: no steal field
    assert cpu_load.machine_steal_seconds(str(stat)) == 0.0


def _proc(root, pid, ppid, ticks, name="py (x) y"):
    (root / str(pid)).mkdir()
    fields = ["S", str(ppid)] + ["0"] * 9 + [str(ticks), str(ticks)] + ["0"] * 10  # utime, stime: fields 14, 15
    (root / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")


def test_descendants_are_the_whole_subtree_and_nothing_else(tmp_path):
    _proc(tmp_path, 10, 1, 0)
    _proc(tmp_path, 11, 10, 3 * TICK)  # a child
    _proc(tmp_path, 12, 11, 2 * TICK)  # its child, a name with ") (" in it
    _proc(tmp_path, 13, 1, 7 * TICK)   # another process: not ours
    (tmp_path / "self").mkdir()
    assert cpu_load._descendants_seconds(10, str(tmp_path)) == pytest.approx(2 * (3 + 2))
    assert cpu_load._descendants_seconds(13, str(tmp_path)) == 0.0


def test_share_is_other_processes_time_over_all_cores_time(monkeypatch):
    clock, machine, own = [100.0], [1000.0], [50.0]
    monkeypatch.setattr(cpu_load.time, "monotonic", lambda: clock[0])
    steal = [7.0]
    monkeypatch.setattr(cpu_load, "machine_busy_seconds", lambda: machine[0])
    monkeypatch.setattr(cpu_load, "machine_steal_seconds", lambda: steal[0])
    monkeypatch.setattr(cpu_load, "_own_seconds", lambda: own[0])
    monkeypatch.setattr(cpu_load.os, "cpu_count", lambda: 2)
    load = cpu_load.OtherLoad()
    clock[0] += 10.0  # 20 core-seconds
    machine[0] += 18.0
    own[0] += 15.0  # ours: 15; others: 3
    steal[0] += 2.0  # and 2 that the host took
    assert load.share() == pytest.approx(3 / 20) and load.steal_share() == pytest.approx(2 / 20)
    monkeypatch.setattr(cpu_load, "machine_busy_seconds", lambda: None)
    monkeypatch.setattr(cpu_load, "machine_steal_seconds", lambda: None)
    assert load.share() is None and load.steal_share() is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux /proc only")
def test_own_children_are_not_counted_as_other_load():
    burn = [sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"]
    before = cpu_load._own_seconds()
    child = subprocess.Popen(burn)
    time.sleep(0.75)
    during = cpu_load._own_seconds()  # the live child's time counts as ours
    child.wait()
    after = cpu_load._own_seconds()  # and, once waited for, through os.times
    assert during - before > 0.3 and after - before > 1.0
