"""What the scheduler did during each wake-up of experiments/wake-tail.mjs.

Not part of `pnpm bench`; the second half of results/2026-12-05-wake-tail.md.

    perf sched record -k CLOCK_MONOTONIC -o sched.data -- \\
        node experiments/wake-tail.mjs 6000 --trace --dump /tmp/wt
    perf script -i sched.data -F comm,pid,tid,cpu,time,event,trace --ns > sched.txt
    python3 experiments/wake-tail-sched.py sched.txt /tmp/wt.*.json

For every wake-up (the first tenth skipped, as wake-tail.mjs does) it finds the
waiter's sched_waking and the sched_switch that put it on a CPU, and sorts the
wake-up into one of:
- releaser cpu, preempted it: woken on the releaser's CPU, ran at once;
- releaser cpu, after it blocked: woken there, ran only when the releaser slept
  (no wakeup preemption);
- releaser cpu, behind another task: some other process ran first;
- other cpu, it was idle / busy: woken on the other CPU (a cross-CPU wake-up);
then prints each group's share and latency, and the share of the slowest 2 %
it holds. It also says where each cross-CPU wake-up began: the pair is
"split" when the releaser runs on another CPU than the waiter slept on, and a
split starts at the untimed hand-off (the waiter's `ready.release()` woke the
sleeping releaser onto the other CPU), at a migration, or at the timed wake.
The waiter and the releaser are found as the pair that wakes each other most.
Last, for Node, how often one of the two processes' other threads ran during
the slowest 2 % of the wake-ups, and during the rest.
"""

import bisect
import json
import re
import sys
from collections import Counter, defaultdict

LINE = re.compile(r"\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(sched_waking|sched_switch|sched_migrate_task):\s*(.*)")


def load(path):
    """The sched events, their times, each thread's process, and who ran on each CPU when (start, end, tid)."""
    events, tgid, runs, current = [], {}, [], {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                t = int(round(float(m.group(5)) * 1e9))
                events.append((t, int(m.group(4)), m.group(3), m.group(6), m.group(7) + " "))
                tgid[m.group(3)] = m.group(2)
    events.sort()
    for t, cpu, _, kind, text in events:
        if kind != "sched_switch":
            continue
        if cpu in current:
            runs.append((current[cpu][0], t, current[cpu][1]))
        current[cpu] = (t, field(text, "next_pid"))
    runs.sort()
    return events, [e[0] for e in events], tgid, runs


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def field(text, name):
    return re.search(name + r"=(\S+)", text).group(1)


def analyse(events, times, tgid, runs, path):
    def window(a, b):
        return events[bisect.bisect_left(times, a) : bisect.bisect_right(times, b)]

    samples = json.load(open(path))
    body = samples[len(samples) // 10 :]
    if not body or "released" not in body[0] or times[0] > body[0]["released"] or times[-1] < body[-1]["woken"]:
        print(f"{path}: not covered by the trace")
        return
    woken, wakers = Counter(), Counter()
    for s in body[:2000]:
        for e in window(s["released"], s["woken"]):
            if e[3] == "sched_waking":
                woken[field(e[4], "pid")] += 1
                wakers[e[2]] += 1
    waiter, releaser = woken.most_common(1)[0][0], wakers.most_common(1)[0][0]
    groups = defaultdict(list)
    splits = Counter()
    previous = None
    for s in body:
        w = window(s["released"] - 1000, s["woken"] + 1000)
        waking = next((e for e in w if e[3] == "sched_waking" and f"pid={waiter} " in e[4]), None)
        switch = waking and next(
            (e for e in w if e[3] == "sched_switch" and e[0] >= waking[0] and f"next_pid={waiter} " in e[4]), None
        )
        if switch is None:
            groups["not seen"].append(s["total"])
            previous = s
            continue
        prev_pid, prev_state = field(switch[4], "prev_pid"), field(switch[4], "prev_state")
        if switch[1] != waking[1]:
            group = "other cpu, it was idle" if prev_pid == "0" else "other cpu, busy"
        elif prev_pid == releaser:
            group = "releaser cpu, preempted it" if prev_state.startswith("R") else "releaser cpu, after it blocked"
        else:
            group = "releaser cpu, behind another task"
        groups[group].append(s["total"])
        if previous is not None:
            target = int(field(waking[4], "target_cpu"))
            if target == waking[1]:
                splits["together"] += 1
            else:
                before = window(previous["woken"], s["released"])
                handoff = next((e for e in before if e[3] == "sched_waking" and f"pid={releaser} " in e[4]), None)
                moved = [e for e in before if e[3] == "sched_migrate_task" and (f"pid={releaser} " in e[4] or f"pid={waiter} " in e[4])]
                if handoff and int(field(handoff[4], "target_cpu")) != handoff[1]:
                    splits["split at the hand-off (releaser woken onto the other cpu)"] += 1
                elif moved:
                    splits["split by a migration"] += 1
                else:
                    splits["split at the timed wake"] += 1
        previous = s
    total = sorted(s["total"] for s in body)
    p98 = quantile(total, 0.98)
    slow = sum(1 for x in total if x > p98)
    print(f"{path}: n {len(total)}, p50 {quantile(total, 0.5):.2f}, p99 {quantile(total, 0.99):.1f} µs")
    for group, xs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        share = 100 * sum(1 for x in xs if x > p98) / max(1, slow)
        print(
            f"  {group:34s} {100 * len(xs) / len(total):5.1f} %  p50 {quantile(xs, 0.5):7.2f}  p90 {quantile(xs, 0.9):7.1f}  holds {share:3.0f} % of the slowest 2 %"
        )
    n = sum(splits.values())
    print("  " + "; ".join(f"{k} {100 * v / n:.2f} %" for k, v in splits.most_common()))
    # The pair's other threads (Node: V8's and libuv's helpers): did one run during the wake-up?
    helpers = {t for t, p in tgid.items() if p in (tgid.get(waiter), tgid.get(releaser)) and t not in (waiter, releaser)}
    if helpers:
        starts = [r[0] for r in runs]
        longest = max((r[1] - r[0] for r in runs), default=0)

        def helped(s):
            k = bisect.bisect_left(starts, s["released"] - longest)
            return any(r[2] in helpers and r[1] > s["released"] for r in runs[k : bisect.bisect_right(starts, s["woken"])])

        slowest = [s for s in body if s["total"] > p98]
        rest = [s for s in body if s["total"] <= p98]
        print(
            f"  one of the pair's {len(helpers)} other threads ran during the wake-up: slowest 2 % "
            f"{100 * sum(map(helped, slowest)) / max(1, len(slowest)):.0f} %, the rest {100 * sum(map(helped, rest)) / max(1, len(rest)):.1f} %"
        )


def main():
    events, times, tgid, runs = load(sys.argv[1])
    for path in sys.argv[2:]:
        analyse(events, times, tgid, runs, path)


if __name__ == "__main__":
    main()
