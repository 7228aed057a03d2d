"""Cost model for 1e9-1e11 examples: measured per-stage rates -> core-hours, shuffle TB, workers, wall time, price.

Rates are this machine's, measured by the benchmarks named next to them (override any
with a flag). The model is linear in examples: benchmarks/select_scaling.py measured
select's per-row cost from 1e6 to 1e7 rows (0.98x with window hashes, 0.94x without);
annotate and materialize work shard by shard. Prices are public on-demand list prices (USD, us-central1),
parameters, not facts about a contract: Dataflow batch vCPU-hour, GB-hour and Dataflow
Shuffle per GB; Flink on Compute Engine n2 VMs (vCPU-hour + GB-hour, shuffle on the
workers' own disks and network, so no per-GB charge).

  .venv/bin/python benchmarks/cost_model.py [--wall-hours 24] [--cores-per-worker 16]
"""

from __future__ import annotations

import argparse
import math

# Core-seconds per 1e6 examples, shuffle bytes per example, output bytes per example.
# Measured 2026-12-04 on this 2-core machine while other jobs loaded it (load average
# 5-13), so the core-seconds are upper bounds (annotate measured 649 ex/s per core when
# the machine was quiet, 4.4x cheaper than the figure below).
STAGES = {
    # benchmarks/annotate_throughput.py --examples 2000 --copies 50: 1e5 examples, 2 workers,
    # 298 ex/s; output: annotation parquet, 137 B/row on benchmarks/web_tables.py tables
    "annotate": {"core_s_per_1e6": 6711.0, "shuffle_b": 0.0, "out_b": 137.0},
    # benchmarks/select_scaling.py --sizes 1000000,10000000 --windows on,off (2026-12-05):
    # with window hashes (dedup.windows, the default) 29.58 us/row at 1e7 rows on 2 workers,
    # 674.7 shuffle B/row (without: 13.73 us/row, 318.7 B/row); output: selection rows,
    # about 30 B (assumed)
    "select": {"core_s_per_1e6": 59.2, "shuffle_b": 674.7, "out_b": 30.0},
    # benchmarks/materialize_throughput.py --examples 1000 --copies 10: 8,740 examples in
    # 8.0 s on 2 workers (start-up included), 1,032 shuffle B per example; output: images
    "materialize": {"core_s_per_1e6": 1830.0, "shuffle_b": 1032.0, "out_b": 0.0},
}
VARIANTS = ("raw", "lang_rebalanced", "en90")  # selections from one annotation pass


def stage_table(examples: float, args: argparse.Namespace) -> list[dict]:
  """Per stage: core-hours, shuffle TB, output TB, workers for the wall-time goal, wall hours."""
  rows = []
  for name, rate in STAGES.items():
    runs = len(VARIANTS) if name in ("select", "materialize") else 1  # annotate once, select/write each variant
    core_h = rate["core_s_per_1e6"] * examples / 1e6 / 3600 * runs / args.efficiency
    out_b = args.image_bytes if name == "materialize" else rate["out_b"]
    if name == "materialize":
      out_b *= args.kept_fraction
    rows.append({
        "stage": name if runs == 1 else f"{name} x{runs}",
        "core_h": core_h,
        "shuffle_tb": rate["shuffle_b"] * examples * runs / 1e12,
        "out_tb": out_b * examples * runs / 1e12,
    })
  return rows


def price(rows: list[dict], args: argparse.Namespace) -> dict[str, float]:
  core_h = sum(r["core_h"] for r in rows)
  shuffle_gb = sum(r["shuffle_tb"] for r in rows) * 1e3
  gb_h = core_h * args.gb_per_core
  dataflow = core_h * args.dataflow_vcpu_hr + gb_h * args.dataflow_gb_hr + shuffle_gb * args.dataflow_shuffle_gb
  flink = core_h * args.vm_vcpu_hr + gb_h * args.vm_gb_hr
  return {"dataflow": dataflow, "flink": flink}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--wall-hours", type=float, default=24.0, help="wall-time goal per stage")
  parser.add_argument("--cores-per-worker", type=int, default=16)
  parser.add_argument("--gb-per-core", type=float, default=4.0)
  parser.add_argument("--efficiency", type=float, default=0.7,
                      help="cluster cores doing work / cores paid (start-up, stragglers, autoscaling)")
  parser.add_argument("--image-bytes", type=float, default=60_000.0, help="mean stored image bytes per example")
  parser.add_argument("--kept-fraction", type=float, default=0.5, help="share of examples a variant writes")
  parser.add_argument("--dataflow-vcpu-hr", type=float, default=0.056)
  parser.add_argument("--dataflow-gb-hr", type=float, default=0.003557)
  parser.add_argument("--dataflow-shuffle-gb", type=float, default=0.011)
  parser.add_argument("--vm-vcpu-hr", type=float, default=0.031611, help="n2 on-demand, per vCPU-hour")
  parser.add_argument("--vm-gb-hr", type=float, default=0.004237, help="n2 on-demand, per GB-hour")
  for name, rate in STAGES.items():
    parser.add_argument(f"--{name}-core-s", type=float, default=rate["core_s_per_1e6"],
                        help=f"core-seconds per 1e6 examples of {name}")
  args = parser.parse_args()
  for name in STAGES:
    STAGES[name]["core_s_per_1e6"] = getattr(args, f"{name}_core_s")

  print("assumptions: " + ", ".join([
      f"{args.cores_per_worker} cores and {args.gb_per_core:g} GB per core per worker",
      f"efficiency {args.efficiency:g}", f"wall-time goal {args.wall_hours:g} h per stage",
      f"{args.image_bytes / 1e3:g} KB per stored image", f"variants {'/'.join(VARIANTS)} each keep "
      f"{args.kept_fraction:g}", f"Dataflow ${args.dataflow_vcpu_hr}/vCPU-h + ${args.dataflow_gb_hr}/GB-h + "
      f"${args.dataflow_shuffle_gb}/shuffle GB", f"Flink on VMs ${args.vm_vcpu_hr}/vCPU-h + ${args.vm_gb_hr}/GB-h"]))
  print("rates (core-s per 1e6 examples / shuffle B per example): " + ", ".join(
      f"{k} {v['core_s_per_1e6']:g} / {v['shuffle_b']:g}" for k, v in STAGES.items()))
  header = (f"{'examples':>9} {'stage':<16} {'core-hours':>11} {'shuffle TB':>11} {'output TB':>10} "
            f"{'workers':>8} {'wall h':>7}")
  print(header)
  for examples in (1e9, 1e10, 1e11):
    rows = stage_table(examples, args)
    for r in rows:
      workers = max(1, math.ceil(r["core_h"] / args.wall_hours / args.cores_per_worker))
      wall = r["core_h"] / (workers * args.cores_per_worker)
      print(f"{examples:>9.0e} {r['stage']:<16} {r['core_h']:>11,.0f} {r['shuffle_tb']:>11.2f} {r['out_tb']:>10.2f} "
            f"{workers:>8,} {wall:>7.1f}")
    cost = price(rows, args)
    total_h = sum(r["core_h"] for r in rows)
    print(f"{examples:>9.0e} {'total':<16} {total_h:>11,.0f} {sum(r['shuffle_tb'] for r in rows):>11.2f} "
          f"{sum(r['out_tb'] for r in rows):>10.2f}   Dataflow ${cost['dataflow']:,.0f}, Flink on VMs "
          f"${cost['flink']:,.0f}")


if __name__ == "__main__":
  main()
