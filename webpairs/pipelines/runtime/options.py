"""Pipeline construction from Beam options: the local default and the portable runners."""

from __future__ import annotations

import collections
import ctypes
import os
import shutil
import tempfile
import threading

import apache_beam as beam
from apache_beam.coders.coder_impl import create_OutputStream
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.portability import python_urns
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, execution, fn_runner
from apache_beam.runners.worker import data_plane
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils import windowed_value

from webpairs.pipelines.runtime import quiet_worker, spill

try:
  _LIBC = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc
  _LIBC = None


# glibc mallopt parameters: allocations of at least 1 MB (stream buffers, data messages)
# get pages of their own, given back when freed; threads share 2 heaps (a freed heap hole
# is reused by any thread).
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8


def tune_driver_malloc() -> None:
  """Sets the local driver's malloc parameters above (glibc; a no-op elsewhere)."""
  if _LIBC is not None:
    _LIBC.mallopt(_M_MMAP_THRESHOLD, 1 << 20)
    _LIBC.mallopt(_M_ARENA_MAX, 2)


def release_free_memory() -> None:
  """Hands the driver's freed heap pages back to the system (glibc's malloc_trim; a no-op elsewhere)."""
  if _LIBC is not None:
    _LIBC.malloc_trim(0)


# The most bytes of one chunk of a GroupByKey's grouped output on the local runner.
GROUPED_CHUNK_BYTES = 1 << 20
# The bytes each of the local runner's data channel queues may hold (Beam: 100 MB, in two
# send queues and a receive queue per worker, all in the driver; the workers' own: quiet_worker).
DATA_QUEUE_BYTES = quiet_worker.DATA_QUEUE_BYTES
# The bytes of one message of a bundle's input to a worker (Beam: 10 MB).
INPUT_MESSAGE_BYTES = 2 << 20


class GroupedShare(spill.ReadOnce):
  """One worker's share of a ChunkedGroupingBuffer: its keys' groups, encoded as they are read.

  Iterating yields chunks of whole (key, values) elements of about GROUPED_CHUNK_BYTES,
  each key's decoded values leaving the buffer as they are encoded. It can be read once.
  """

  def __init__(self, buffer: ChunkedGroupingBuffer, keys: list[bytes]):
    self._buffer = buffer
    self._keys = keys

  def _chunks(self):
    buf = self._buffer
    coder_impl = buf._post_grouped_coder.get_impl()  # pylint: disable=protected-access
    key_coder_impl = buf._key_coder.get_impl()  # pylint: disable=protected-access
    stream = create_OutputStream()
    for encoded_key in self._keys:
      values = buf._table.pop(encoded_key)  # pylint: disable=protected-access
      coder_impl.encode_to_stream(buf.window.with_value((key_coder_impl.decode(encoded_key), values)), stream, True)
      del values
      if stream.size() >= GROUPED_CHUNK_BYTES:
        yield stream.get()
        stream = create_OutputStream()
    if stream.size():
      yield stream.get()


class ChunkedGroupingBuffer(execution.GroupingBuffer):
  """Beam's GroupingBuffer (FnApiRunner's in-driver shuffle) without copies of the groups, spilled past a bound.

  Beam 2.77 encodes all groups of a GroupByKey into one stream per worker (a buffer that
  grows by doubling, then a bytes copy of it) while every decoded value is still held, then
  hands each worker that one blob, which the data channel copies again: the driver's peak
  was about 5x the shuffle's bytes. Here partition() hands each worker a GroupedShare, whose
  groups are encoded key by key as they are sent, so the peak is the decoded values plus a
  chunk per worker. The same keys go to the same worker, in the same order, with the same
  values: the bytes a worker reads are identical.

  With a run's SpillBudget (budget, set by _FnApiRunner.run_stages), the buffers of a run
  hold at most its bound of encoded input in memory: past it the largest write their groups
  to disk (spill.py), and a buffer that spilled hands each worker a SpilledShare of hash
  partitions instead. Each key's values still form one group, in the order they arrived;
  which worker gets a key, and in what order, differs from the in-memory path.
  """

  window = GlobalWindows.windowed_value(
      None, timestamp=GlobalWindow().max_timestamp(),
      pane_info=windowed_value.PaneInfo(is_first=True, is_last=True, timing=windowed_value.PaneInfoTiming.ON_TIME,
                                        index=0, nonspeculative_index=0))
  budget: spill.SpillBudget | None = None

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.held = 0  # encoded bytes appended since the last spill
    self._spilled: spill.SpillFiles | None = None
    # non-default windowing keeps windowed values for Beam's trigger driver: never spilled
    self._budget = self.budget if self.budget is not None and self._windowing.is_default() else None
    if self._budget is not None:
      self._budget.register(self)

  def append(self, elements_data: bytes) -> None:
    if self._budget is None:
      super().append(elements_data)
      return
    # FnApiRunner's parallel bundles (one thread per worker) append to the same buffers, and an append
    # to one buffer may spill another: a spill must not run while any buffer of the run adds to its table
    # (values added to a group it had already written were lost with the table it dropped).
    with self._budget.lock:
      super().append(elements_data)
      self._budget.add(self, len(elements_data))

  def extend(self, input_buffer) -> None:
    if input_buffer is self or isinstance(input_buffer, execution.ListBuffer):
      return
    if self._budget is not None:
      with self._budget.lock:
        self._extend(input_buffer)
    else:
      self._extend(input_buffer)

  def _extend(self, input_buffer) -> None:
    super().extend(input_buffer)
    if isinstance(input_buffer, ChunkedGroupingBuffer):
      other = input_buffer._spilled  # pylint: disable=protected-access
      if other is not None:
        if self._spilled is None:
          self._spilled = spill.SpillFiles(os.path.dirname(other.directory))
        for mine, theirs in zip(self._spilled.parts, other.parts):
          mine.extend(theirs)
      if input_buffer._budget is not None:  # pylint: disable=protected-access
        input_buffer._budget.forget(input_buffer)  # pylint: disable=protected-access
      if self._budget is not None:
        self._budget.add(self, input_buffer.held)

  def _encoded_groups(self):
    """(encoded key, encoded group) of every held key, each key's values leaving the table as encoded."""
    coder_impl = self._post_grouped_coder.get_impl()
    key_coder_impl = self._key_coder.get_impl()
    for encoded_key in list(self._table):
      values = self._table.pop(encoded_key)
      yield encoded_key, coder_impl.encode_nested(self.window.with_value((key_coder_impl.decode(encoded_key), values)))
      del values

  def spill(self) -> int:
    """Writes the held groups to disk; returns the bytes this freed (SpillBudget)."""
    if self._spilled is None:
      self._spilled = spill.SpillFiles(self._budget.directory)
    self._spilled.write(self._encoded_groups())
    self._table = collections.defaultdict(list)  # a dict keeps its size after pops
    freed, self.held = self.held, 0
    release_free_memory()
    return freed

  def _merge(self, encoded_key: bytes, groups: list[bytes]) -> bytes:
    """One encoded group of a key's spilled groups, values in the order they were spilled.

    A group's encoding ends with its values as Beam's IterableCoder writes a list: a 4-byte
    count, then each value. So the groups join as bytes: the header of an empty group, the
    summed count, each group's values; any other layout is decoded and encoded again.
    """
    coder_impl = self._post_grouped_coder.get_impl()
    key = self._key_coder.get_impl().decode(encoded_key)
    head = coder_impl.encode_nested(self.window.with_value((key, [])))[:-4]
    count, parts = 0, []
    for group in groups:
      n = int.from_bytes(group[len(head):len(head) + 4], "big", signed=True)
      if not group.startswith(head) or n < 0:
        return self._merge_decoded(key, groups)
      count += n
      parts.append(memoryview(group)[len(head) + 4:])
    if count >= 1 << 31:
      return self._merge_decoded(key, groups)
    return b"".join([head, count.to_bytes(4, "big"), *parts])

  def _merge_decoded(self, key, groups: list[bytes]) -> bytes:
    coder_impl = self._post_grouped_coder.get_impl()
    values = []
    for group in groups:
      values.extend(coder_impl.decode_nested(group).value[1])
    return coder_impl.encode_nested(self.window.with_value((key, values)))

  def partition(self, n: int) -> list:
    if self._grouped_output or not self._windowing.is_default():
      return super().partition(n)
    if self._budget is not None:
      self._budget.forget(self)
    if self._spilled is not None:
      if self._table:
        self._spilled.write(self._encoded_groups())
        self._table = collections.defaultdict(list)
      split_bytes = max(1, self._budget.bound // 2) if self._budget is not None else 1 << 28
      self._grouped_output = [spill.SpilledShare(self._spilled, ix, n, self._merge, split_bytes,
                                                 GROUPED_CHUNK_BYTES) for ix in range(n)]
      return self._grouped_output
    keys = list(self._table)
    self._grouped_output = [GroupedShare(self, keys[ix::n]) for ix in range(n)]
    return self._grouped_output


def _send_input_in_chunks(self, process_bundle_id: str, read_transform_id: str, byte_streams) -> None:
  """fn_runner.BundleManager._send_input_to_worker, in messages of about INPUT_MESSAGE_BYTES, from a thread.

  Beam's writes a bundle's whole input into one stream and sends it as one message (copied
  on the way: the stream, its bytes, the message), so each worker's input was held 3-4
  times in the driver. Small messages need the worker to read while they are sent, but
  Beam sends the input before it asks the worker to process the bundle (a worker queues 5
  messages of a bundle it has not started): so the messages go from a thread, and
  process_bundle (_process_bundle_then_join) waits for it and raises its error. The
  worker reads the same elements.

  Each message goes straight to the channel's send queue (the stream's flush callback), whole
  chunks joined here, never through the stream's own buffer: FnApiRunner's data streams flush
  their buffer from a timer thread every second, and a timed flush that waits on a full send
  queue clears the buffer afterwards, dropping whatever this thread wrote into it meanwhile
  (select lost 2-3 whole near-dup groups of 1,030 at 1e7 rows under load, one per lost chunk).
  """
  data_out = self._worker_handler.data_conn.output_stream(process_bundle_id, read_transform_id)

  def send():
    message = getattr(data_out, "_flush_callback", None)  # one message to the worker
    try:
      if message is None:  # not a buffering stream: written whole and sent at close, as Beam does
        for byte_stream in byte_streams or []:
          data_out.write(byte_stream)
        return
      pending: list[bytes] = []
      size = 0
      for byte_stream in byte_streams or []:
        if len(byte_stream) >= INPUT_MESSAGE_BYTES:
          # a chunk this large (one large group) is a message by itself, uncopied
          if pending:
            message(b"".join(pending))
            pending, size = [], 0
          message(byte_stream)
          continue
        pending.append(byte_stream)
        size += len(byte_stream)
        if size >= INPUT_MESSAGE_BYTES:
          message(b"".join(pending))
          pending, size = [], 0
      if pending:
        message(b"".join(pending))
    except BaseException as e:  # pylint: disable=broad-except  # raised by process_bundle
      errors.append(e)
    finally:
      data_out.close()  # the end-of-input marker (and, without a message callback, what was written)

  errors: list[BaseException] = []
  if isinstance(self._worker_handler.data_conn, data_plane.InMemoryDataChannel):
    # an in-process worker reads only what its channel holds when the bundle starts: send it all first
    send()
    if errors:
      raise RuntimeError("sending a bundle's input to a worker failed") from errors[0]
    return
  thread = threading.Thread(target=send, name=f"send-{read_transform_id}", daemon=True)
  self.__dict__.setdefault("_input_senders", []).append((thread, errors))
  thread.start()


_BEAM_PROCESS_BUNDLE = fn_runner.BundleManager.process_bundle


def _process_bundle_then_join(self, *args, **kwargs):
  """fn_runner.BundleManager.process_bundle, then the input threads of _send_input_in_chunks joined."""
  try:
    return _BEAM_PROCESS_BUNDLE(self, *args, **kwargs)
  finally:
    senders, self._input_senders = self.__dict__.get("_input_senders", []), []
    for thread, errors in senders:
      thread.join()
      if errors:
        raise RuntimeError("sending a bundle's input to a worker failed") from errors[0]


def _local_runner_patches(grouping_buffer: type = ChunkedGroupingBuffer) -> list[tuple[object, str, object]]:
  """(module or class, name, value): what _FnApiRunner sets for a run."""
  return [(execution, "GroupingBuffer", grouping_buffer),
          (data_plane, "_DEFAULT_SEND_QUEUE_MAX_BYTES", DATA_QUEUE_BYTES),
          (fn_runner.BundleManager, "_send_input_to_worker", _send_input_in_chunks),
          (fn_runner.BundleManager, "process_bundle", _process_bundle_then_join)]


class _FnApiRunner(FnApiRunner):
  """FnApiRunner whose worker processes start through `quiet_worker` (Beam's INFO chatter follows --log-level)
  and whose GroupByKeys hand out their groups in chunks (ChunkedGroupingBuffer)."""

  def run_via_runner_api(self, pipeline_proto, options):
    for env in pipeline_proto.components.environments.values():
      if env.urn == python_urns.SUBPROCESS_SDK and b"apache_beam.runners.worker.sdk_worker_main" in env.payload:
        env.payload = quiet_worker.COMMAND.encode("utf-8")
    return super().run_via_runner_api(pipeline_proto, options)

  def _execute_bundle(self, runner_execution_context, bundle_context_manager, bundle_input):
    try:
      return super()._execute_bundle(runner_execution_context, bundle_context_manager, bundle_input)
    finally:
      release_free_memory()

  def run_stages(self, stage_context, stages):
    # Module-level names and methods that Beam reads when it makes this run's grouping
    # buffers (execution.py), data channel queues (data_plane.py) and bundles (fn_runner.py).
    tune_driver_malloc()
    bound = spill.memory_bound()
    spill_dir = None
    if bound:
      spill_dir = tempfile.mkdtemp(prefix="webpairs-shuffle-", dir=os.environ.get(spill.DIR_ENV) or None)
    # this run's grouping buffers share one spill budget and folder
    buffer_cls = type("ChunkedGroupingBuffer", (ChunkedGroupingBuffer,),
                      {"budget": spill.SpillBudget(bound, spill_dir) if bound else None})
    patches = _local_runner_patches(buffer_cls)
    saved = [getattr(owner, name) for owner, name, _ in patches]
    for owner, name, value in patches:
      setattr(owner, name, value)
    try:
      return super().run_stages(stage_context, stages)
    finally:
      for (owner, name, _), value in zip(patches, saved):
        setattr(owner, name, value)
      if spill_dir:
        shutil.rmtree(spill_dir, ignore_errors=True)


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
