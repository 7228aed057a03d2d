"""Beam's DaskRunner with multi-output ParDos and every sink computed (optional extra `.[dask]`).

Beam 2.77's DaskRunner (apache_beam.runners.dask) loses the tags of a ParDo's outputs
(every consumer of any output sees all of them) and computes only the bag of the last
transform visited, so sinks on other branches never run. This runner keeps
(tag, element) pairs out of every ParDo, gives each consumer and side input the elements
of its own tag, reads bounded sources (ReadFromParquet) split by split, and computes
every leaf. Use with a dask.distributed scheduler:

  --runner=webpairs.pipelines.runtime.dask_runner.DaskRunner --dask_client_address=tcp://HOST:PORT
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.pvalue import TaggedOutput
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask import overrides
from apache_beam.runners.dask import transform_evaluator as te
from apache_beam.transforms.core import DoFn
from apache_beam.transforms.sideinputs import SideInputMap


def _bundle(items, fn, window_fn, side_inputs, args, kwargs, label):
  """One Dask partition through the DoFn: (tag, element) pairs, tag None for the main output."""
  receivers = te.OneReceiver()
  handler = _OutputHandler(window_fn=window_fn, main_receivers=receivers[None], tagged_receivers=receivers,
                           per_element_output_counter=None, output_batch_converter=None,
                           process_yields_batches=False, process_batch_yields_elements=False)
  invoker = DoFnInvoker.create_invoker(DoFnSignature(fn), handler, context=DoFnContext(label, state=None),
                                       side_inputs=side_inputs, input_args=args, input_kwargs=kwargs,
                                       user_state_context=None, bundle_finalizer_param=DoFn.BundleFinalizerParam())
  invoker.invoke_setup()
  invoker.invoke_start_bundle()
  for item in items:
    invoker.invoke_process(item)
  invoker.invoke_finish_bundle()
  invoker.invoke_teardown()
  out = []
  for v in receivers.values:
    if isinstance(v, TaggedOutput):
      out.append((v.tag, te.defenestrate(v.value)))
    else:
      out.append((None, te.defenestrate(v)))
  return out


class _TaggedParDo(te.DaskBagOp):
  """A ParDo whose bag holds (tag, element) pairs."""

  def apply(self, input_bag, side_inputs=None):
    transform = self.transform
    args, kwargs = transform.raw_side_inputs
    main_input = next(iter(self.applied.main_inputs.values()))
    window_fn = main_input.windowing.windowfn if hasattr(main_input, "windowing") else None
    return input_bag.map(te.get_windowed_value, window_fn).map_partitions(
        _bundle, transform.fn, window_fn, side_inputs, list(args), kwargs, transform.label)


def _read_splits(splits):
  out = []
  for split in splits:
    out.extend(split.source.read(split.source.get_range_tracker(split.start_position, split.stop_position)))
  return out


class _ReadBounded(te.DaskBagOp):
  """A bounded source (e.g. ReadFromParquet): its splits, one Dask partition each."""

  def apply(self, input_bag, side_inputs=None):
    from dask import bag as db  # pylint: disable=import-outside-toplevel

    splits = list(self.transform.source.split(desired_bundle_size=64 << 20))
    return db.from_sequence(splits, npartitions=max(1, len(splits))).map_partitions(_read_splits)


def _output_tag(pcoll) -> str | None:
  """The tag a consumer of `pcoll` must select from its producer's (tag, element) bag."""
  producer = pcoll.producer
  side_tags = set(getattr(producer.transform, "output_tags", ()) or ())
  return pcoll.tag if pcoll.tag in side_tags else None


@dataclasses.dataclass
class _Result(beam_dask.DaskRunnerResult):
  """Closes the runner's client once the job is done (else it keeps trying to reconnect)."""

  def wait_until_finish(self, duration=None) -> str:
    try:
      return super().wait_until_finish(duration)
    finally:
      self.client.close()


class DaskRunner(beam_dask.DaskRunner):
  """Runs a pipeline on a dask.distributed cluster: one Dask bag per transform."""

  @staticmethod
  def to_dask_bag_visitor(bag_kwargs=None):
    translations = {**te.TRANSLATIONS, beam.ParDo: _TaggedParDo, overrides._Read: _ReadBounded}  # pylint: disable=protected-access

    @dataclasses.dataclass
    class Visitor(beam.pipeline.PipelineVisitor):
      bags: dict = dataclasses.field(default_factory=dict)
      consumed: set = dataclasses.field(default_factory=set)
      tagged: set = dataclasses.field(default_factory=set)  # nodes whose bags hold (tag, element)

      def bag_of(self, pcoll):
        producer = pcoll.producer
        bag = self.bags[producer]
        self.consumed.add(producer)
        if producer in self.tagged:
          tag = _output_tag(pcoll)
          bag = bag.filter(lambda tv, t=tag: tv[0] == t).map(lambda tv: tv[1])
        return bag

      def visit_transform(self, node) -> None:
        op = translations.get(node.transform.__class__, te.NoOp)(node, bag_kwargs=bag_kwargs or {})
        if isinstance(op, _TaggedParDo):
          self.tagged.add(node)
        kws = {"input_bag": None, "side_inputs": None}
        inputs = [i for i in node.inputs if not isinstance(i, pvalue.PBegin) and i.producer in self.bags]
        if inputs:
          bags = [self.bag_of(i) for i in inputs]
          kws["input_bag"] = bags[0] if len(bags) == 1 and not isinstance(op, te.Flatten) else bags
        if node.side_inputs:
          kws["side_inputs"] = [SideInputMap(type(si), si._view_options(),  # pylint: disable=protected-access
                                             te.DaskBagWindowedIterator(self.bag_of(si.pvalue),
                                                                        si._window_mapping_fn))  # pylint: disable=protected-access
                                for si in node.side_inputs]
        self.bags[node] = op.apply(**kws)

    return Visitor()

  def run_pipeline(self, pipeline, options):
    import dask  # pylint: disable=import-outside-toplevel
    import dask.distributed as ddist  # pylint: disable=import-outside-toplevel

    dask_options = options.view_as(beam_dask.DaskOptions).get_all_options(drop_default=True, current_only=True)
    bag_kwargs = beam_dask.DaskOptions._extract_bag_kwargs(dask_options)  # pylint: disable=protected-access
    client = ddist.Client(**dask_options)
    pipeline.replace_all(beam_dask.dask_overrides())
    visitor = self.to_dask_bag_visitor(bag_kwargs)
    pipeline.visit(visitor)
    leaves = [bag for node, bag in visitor.bags.items() if node not in visitor.consumed]
    futures = client.compute(dask.optimize(*leaves))
    return _Result(client, futures)
