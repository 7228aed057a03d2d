"""Pipeline construction from Beam options: the local default and the portable runners."""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.portability import python_urns
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from webpairs.pipelines.runtime import quiet_worker


class _FnApiRunner(FnApiRunner):
  """FnApiRunner whose worker processes start through `quiet_worker`: Beam's INFO chatter follows --log-level."""

  def run_via_runner_api(self, pipeline_proto, options):
    for env in pipeline_proto.components.environments.values():
      if env.urn == python_urns.SUBPROCESS_SDK and b"apache_beam.runners.worker.sdk_worker_main" in env.payload:
        env.payload = quiet_worker.COMMAND.encode("utf-8")
    return super().run_via_runner_api(pipeline_proto, options)


def is_local(pipeline_args: list[str]) -> bool:
  """True when the job runs in this process tree (no --runner, or a direct runner)."""
  runner = PipelineOptions(pipeline_args).view_as(StandardOptions).runner
  return runner is None or runner in ("DirectRunner", "FnApiRunner", "BundleBasedDirectRunner")


def make_pipeline(pipeline_args: list[str] | None = None) -> beam.Pipeline:
  """A Beam pipeline for `pipeline_args` (unparsed Beam flags).

  Without `--runner`, jobs run on Beam's in-process FnApiRunner with one worker process
  per core (Prism would need a binary download). Any other runner (PortableRunner for
  Flink or Spark, DataflowRunner) gets the flags unchanged.
  """
  args = list(pipeline_args or [])
  if not any(a.startswith("--default_sdk_harness_log_level") for a in args):
    args.append("--default_sdk_harness_log_level=WARNING")  # worker INFO lines drown the progress
  options = PipelineOptions(args)
  if options.view_as(StandardOptions).runner is not None:
    return beam.Pipeline(options=options)
  direct = options.view_as(DirectOptions)
  if not any(a.startswith("--direct_num_workers") for a in args):
    direct.direct_num_workers = os.cpu_count() or 1
  if not any(a.startswith("--direct_running_mode") for a in args):
    direct.direct_running_mode = "multi_processing" if direct.direct_num_workers > 1 else "in_memory"
  return beam.Pipeline(runner=_FnApiRunner(), options=options)
