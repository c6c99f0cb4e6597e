"""The streaming job's Python work on the driver, per record: judging and gold, without Spark.

A backlog micro-batch is the driver's one Python thread (README, issue 13's throughput): every record is
judged (pydantic, the time rules, silver's row) and folded into gold's partials, and every touched
window's rows are finished (figures and the `state` JSON). This measures that work on simulator records
(every domain, 1 % bad; the same records every run), in CPU seconds of one process (best of `--repeat`
interleaved passes), as a multiple of pydantic's bare `validate_json` over the same payloads in the same
process: the floor any judging pays, and a yardstick that drifts with the machine as the rest does.

With `--against PATH` (another checkout, e.g. a `git worktree` of the commit before) both trees are
measured, alternating, each in a process of its own, and their ratio printed: a comparison within one
run, as the machine's speed moves by up to half from hour to hour.

Usage: python bench/driver_work.py [--records 60000] [--rounds 3] [--against /tmp/before]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("pydantic_floor", "judge", "gold_fold", "gold_apply", "traffic_city")


def measure(root: Path, records: int, repeat: int) -> dict[str, float]:
    """In this process, importing the checkout at `root`: CPU seconds of each phase (best of `repeat`)."""
    sys.path.insert(0, str(root))
    import streaming

    assert Path(streaming.__file__).is_relative_to(root), f"{streaming.__file__} is not from {root}"
    from datetime import UTC, datetime, timedelta

    from feeds.sim.core import Simulator
    from lakehouse.catalog import EVENT_CONTRACTS
    from streaming.batch_validation import Record
    from streaming.gold import traffic
    from streaming.gold.live import LiveGold
    from streaming.gold.registry import GOLD_BY_TOPIC, ROLLUPS
    from streaming.silver_rows import judge_batch

    end = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    simulated = list(Simulator(seed=7, start=end - timedelta(minutes=records // 230 + 1), end=end,
                               bad_fraction=0.01))[:records]
    now = end + timedelta(minutes=5)
    batch = [Record(r.topic, 0, i, int(r.observed * 1e6), r.value, r.key) for i, r in enumerate(simulated)]
    base_of = {topic: topic for topic in {r.topic for r in simulated}}

    def floor() -> None:
        for record in batch:
            with contextlib.suppress(Exception):  # an invalid payload costs its validation too
                EVENT_CONTRACTS[base_of[record.topic]].model_validate_json(record.value, strict=True)

    judged = judge_batch(batch, base_of, {}, {}, 30, 5, 1, now)
    try:  # what the job folds from its view tables (a checkout from before that folds dicts only)
        from streaming.gold.columnar import fold_table, folds_from_columns
    except ImportError:
        fold_table, folds_from_columns = None, None

    def source(topic: str, rollup):  # type: ignore[no-untyped-def]
        view = getattr(judged, "views", {}).get(topic)
        if folds_from_columns is not None and view is not None and folds_from_columns(rollup, view):
            return view
        return judged.rows[topic]

    work = [(rollup, source(topic, rollup)) for topic, pairs in GOLD_BY_TOPIC.items() if judged.rows.get(topic)
            for _, rollup in pairs]
    segments: list[dict] = []  # type: ignore[type-arg]

    def apply() -> None:
        live = LiveGold(ROLLUPS, lambda pairs: [])
        for rollup, rows in work:
            built = live.apply(rollup, rows, now)
            if rollup.contract.name == "traffic_segment":
                segments[:] = built

    passes = {"pydantic_floor": floor, "judge": lambda: judge_batch(batch, base_of, {}, {}, 30, 5, 1, now),
              "gold_fold": lambda: [fold_table(rollup, rows) if hasattr(rows, "num_rows") else rollup.fold(rows)
                                    for rollup, rows in work], "gold_apply": apply,
              "traffic_city": lambda: traffic.city_rows(segments)}
    figures = dict.fromkeys(passes, float("inf"))
    for _ in range(repeat):  # phases interleaved: the machine's speed drifts within a minute
        for phase, work_once in passes.items():
            started = time.process_time()
            work_once()
            figures[phase] = min(figures[phase], time.process_time() - started)
    return figures


def _child(root: Path, records: int, repeat: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(root), "--records", str(records),
                          "--repeat", str(repeat)], capture_output=True, text=True, check=True, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3, help="processes per tree, alternating trees")
    parser.add_argument("--repeat", type=int, default=3, help="passes per process (the best counts)")
    parser.add_argument("--against", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.records, args.repeat)))
        return
    trees = {"this tree": ROOT, **({"against": args.against.resolve()} if args.against else {})}
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; {args.records} simulator "
          f"records, CPU seconds, best of {args.repeat} passes, median of {args.rounds} processes per tree")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for round_ in range(args.rounds):
        for name, root in trees.items():
            runs[name].append(_child(root, args.records, args.repeat))
            print(f"  round {round_ + 1}, {name}: done", flush=True)
    # each phase over the pydantic floor of its own process: the machine's speed moves from one process
    # to the next by up to half, the ratio much less
    medians = {name: {phase: statistics.median(run[phase] / run["pydantic_floor"] for run in results)
                      for phase in PHASES} for name, results in runs.items()}
    floors = {name: statistics.median(run["pydantic_floor"] for run in results) for name, results in runs.items()}
    print(f"{'phase':<16}" + "".join(f"{name + ' (x floor)':>22}" for name in trees)
          + ("   this tree / against" if args.against else ""))
    for phase in PHASES:
        line = f"{phase:<16}" + "".join(f"{medians[name][phase]:>22.2f}" for name in trees)
        if args.against:
            line += f"   {medians['this tree'][phase] / medians['against'][phase]:.2f}"
        print(line)
    for name in trees:
        driver = medians[name]["judge"] + medians[name]["gold_apply"] + medians[name]["traffic_city"]
        print(f"{name}: judge + gold = {driver:.1f}x pydantic's bare validation (the floor: "
              f"{1e6 * floors[name] / args.records:.1f} µs/record, median)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    results = {"records": args.records, "load_avg": round(os.getloadavg()[0], 2),
               "floor_us_per_record": {name: round(1e6 * f / args.records, 2) for name, f in floors.items()},
               "x_floor": {name: {p: round(v, 3) for p, v in m.items()} for name, m in medians.items()}}
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "driver_work.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
