"""The local FnApiRunner's memory fixes (pipelines/runtime/options.py): same bytes to the workers, in chunks."""

from __future__ import annotations

import ast
import logging
import os
import pathlib
import subprocess
import sys
import threading
import time

import apache_beam as beam
import numpy as np
import pytest
from apache_beam import coders
from apache_beam.coders.coder_impl import create_InputStream, create_OutputStream
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
from apache_beam.runners.worker import data_plane
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core
from apache_beam.utils import windowed_value

from webpairs.pipelines.runtime import options, spill

KV = coders.TupleCoder([coders.VarIntCoder(), coders.BytesCoder()])
WINDOWED_KV = coders.WindowedValueCoder(KV)
GROUPED = coders.WindowedValueCoder(coders.TupleCoder([coders.VarIntCoder(), coders.IterableCoder(coders.BytesCoder())]))


def _filled(cls, items):
  buf = cls(WINDOWED_KV, GROUPED, core.Windowing(beam.window.GlobalWindows()))
  out = create_OutputStream()
  for k, v in items:
    WINDOWED_KV.get_impl().encode_to_stream(windowed_value.WindowedValue((k, v), 0, [beam.window.GlobalWindow()]),
                                            out, True)
  buf.append(out.get())
  return buf


def _decoded(chunks):
  out = []
  for chunk in chunks:
    stream = create_InputStream(chunk)
    while stream.size() > 0:
      wv = GROUPED.get_impl().decode_from_stream(stream, True)
      out.append((wv.value[0], list(wv.value[1]), wv.timestamp, wv.windows, wv.pane_info))
  return out


def test_chunked_grouping_buffer_gives_each_worker_the_same_bytes_in_chunks(monkeypatch):
  monkeypatch.setattr(options, "GROUPED_CHUNK_BYTES", 2500)
  items = [(k % 7, bytes([k]) * 300) for k in range(40)]  # 7 keys, 40 values of 300 bytes
  ref = _filled(execution.GroupingBuffer, items).partition(3)
  chunked = _filled(options.ChunkedGroupingBuffer, items)
  shares = chunked.partition(3)
  assert chunked.partition(3) is shares  # partitioned once, like Beam's
  table = chunked._table  # pylint: disable=protected-access
  assert len(table) == 7  # nothing encoded before it is read
  reader = iter(shares[0])
  first = next(reader)
  assert len(table) == 5  # keys 0 and 3 (12 values, 3.6 KB) left the table as worker 0's first chunk
  got = [[first, *reader], list(shares[1]), list(shares[2])]
  assert not table  # every decoded value is gone
  assert [b"".join(c) for c in got] == [b"".join(c) for c in ref]  # byte-identical per worker
  assert [len(c) for c in ref] == [1, 1, 1]
  # keys 0, 3, 6 -> worker 0 (6, 6, 5 values); a chunk closes once it reaches 2,500 bytes
  assert [len(c) for c in got] == [2, 1, 1]
  assert [k for k, *_ in _decoded(got[0])] == [0, 3, 6]
  assert [len(v) for _, v, *_ in _decoded(got[0])] == [6, 6, 5]
  assert _decoded(got[1])[0][1] == [bytes([k]) * 300 for k in (1, 8, 15, 22, 29, 36)]
  with pytest.raises(RuntimeError, match="read twice"):
    list(shares[1])


class _Handler:

  def __init__(self, fail_at: int | None = None):
    self.sent = []
    self._fail_at = fail_at

  def _message(self, data):
    if len(self.sent) == self._fail_at:
      raise OSError("channel closed")
    self.sent.append(data)

  def output_stream(self, *_):
    return data_plane.SizeBasedBufferingClosableOutputStream(close_callback=self.sent.append,
                                                             flush_callback=self._message)


def _manager(handler):
  return type("M", (), {"_worker_handler": type("W", (), {"data_conn": handler})()})()


def test_input_goes_to_the_worker_in_small_messages_from_a_thread_joined_by_process_bundle(monkeypatch):
  monkeypatch.setattr(options, "_BEAM_PROCESS_BUNDLE", lambda self, *a: ("result", a))
  handler = _Handler()
  manager = _manager(handler)
  chunks = [bytes([i]) * (1 << 20) for i in range(7)]  # 7 MB
  options._send_input_in_chunks(manager, "bundle", "read", chunks)  # pylint: disable=protected-access
  assert options._process_bundle_then_join(manager, 1, 2) == ("result", (1, 2))  # pylint: disable=protected-access
  assert b"".join(handler.sent) == b"".join(chunks)
  # a message once 2 MB of chunks are held: 2 chunks a message, the last one alone, then the close
  assert [len(m) >> 20 for m in handler.sent] == [2, 2, 2, 1, 0]
  assert manager._input_senders == []  # pylint: disable=protected-access


def test_a_chunk_past_the_message_size_goes_to_the_worker_as_its_own_message_uncopied(monkeypatch):
  monkeypatch.setattr(options, "_BEAM_PROCESS_BUNDLE", lambda self, *a: "result")
  handler = _Handler()
  manager = _manager(handler)
  chunks = [bytes([i]) * (n << 20) for i, n in enumerate([1, 5, 1, 1, 3])]
  options._send_input_in_chunks(manager, "bundle", "read", chunks)  # pylint: disable=protected-access
  options._process_bundle_then_join(manager)  # pylint: disable=protected-access
  assert b"".join(handler.sent) == b"".join(chunks)
  assert [len(m) >> 20 for m in handler.sent] == [1, 5, 2, 3, 0]  # what was held goes first; then the close
  assert handler.sent[1] is chunks[1] and handler.sent[3] is chunks[4]


def test_a_timed_flush_of_the_stream_loses_no_input(monkeypatch):
  # FnApiRunner's data streams flush from a timer thread (every second); a timed flush that waited on a full
  # send queue cleared the stream's buffer afterwards, dropping chunks written into it meanwhile: select lost
  # whole near-dup groups at 1e7 rows. The sender no longer writes into the stream's buffer.
  monkeypatch.setattr(options, "_BEAM_PROCESS_BUNDLE", lambda self, *a: "result")
  monkeypatch.setattr(options, "INPUT_MESSAGE_BYTES", 1 << 16)
  sent, lock = [], threading.Lock()

  def message(data):
    if threading.current_thread().name != "send-read":  # the timer thread: a full send queue
      time.sleep(0.002)
    with lock:
      sent.append(bytes(data))

  class Conn:

    def output_stream(self, *_):
      return data_plane.TimeBasedBufferingClosableOutputStream(close_callback=message, flush_callback=message,
                                                               time_flush_threshold_ms=1)

  manager = _manager(Conn())
  chunks = [i.to_bytes(4, "big") * (1 << 12) for i in range(600)]  # 16 KB each: 4 to a message

  def slow_chunks():
    for c in chunks:
      time.sleep(0.0002)
      yield c

  options._send_input_in_chunks(manager, "bundle", "read", slow_chunks())  # pylint: disable=protected-access
  options._process_bundle_then_join(manager)  # pylint: disable=protected-access
  assert b"".join(sent) == b"".join(chunks)
  assert [len(m) for m in sent if m] == [1 << 16] * 150  # the timer's flushes found the stream empty


def test_a_failed_input_send_fails_the_bundle(monkeypatch):
  monkeypatch.setattr(options, "_BEAM_PROCESS_BUNDLE", lambda self, *a: "result")
  handler = _Handler(fail_at=1)
  manager = _manager(handler)
  options._send_input_in_chunks(manager, "bundle", "read", [b"x" * (3 << 19)] * 3)  # pylint: disable=protected-access
  with pytest.raises(RuntimeError, match="sending a bundle's input") as e:
    options._process_bundle_then_join(manager)  # pylint: disable=protected-access
  assert isinstance(e.value.__cause__, OSError)
  assert [len(m) >> 20 for m in handler.sent] == [3, 0]  # one message, then the stream closed (the worker ends)


def test_runner_restores_beam_and_groups_like_beam():
  patches = options._local_runner_patches()  # pylint: disable=protected-access
  saved = [getattr(owner, name) for owner, name, _ in patches]
  assert [name for _, name, _ in patches] == ["GroupingBuffer", "_DEFAULT_SEND_QUEUE_MAX_BYTES",
                                              "_send_input_to_worker", "process_bundle"]
  assert saved[2] is fn_runner.BundleManager._send_input_to_worker  # pylint: disable=protected-access
  values = np.arange(3000)
  with options.make_pipeline(["--direct_num_workers=2", "--direct_running_mode=multi_threading"]) as p:
    grouped = (p | beam.Create([(int(v) % 97, int(v)) for v in values]) | beam.GroupByKey()
               | beam.MapTuple(lambda k, vs: (k, sorted(vs))))
    assert_that(grouped, equal_to([(k, [int(v) for v in values if v % 97 == k]) for k in range(97)]))
  assert [getattr(owner, name) for owner, name, _ in patches] == saved
  assert execution.GroupingBuffer is not options.ChunkedGroupingBuffer


_BIG_JOB = """
import sys
import threading
import apache_beam as beam
from webpairs.pipelines.runtime import options, spill
fail = sys.argv[1] == "fail"

def check(kv):
  k, vs = kv
  if fail and k == 7:
    raise ValueError("planted failure at key 7")
  return k, sum(len(v) for v in vs), sum(v[0] for v in vs)

with options.make_pipeline(["--direct_num_workers=2", "--direct_running_mode=multi_processing"]) as p:
  rows = (p | beam.Create(range(64)) | beam.FlatMap(lambda s: [(i % 16, bytes([i % 251]) * 6000) for i in range(s * 100, s * 100 + 100)]))
  out = rows | beam.GroupByKey() | beam.Map(check) | beam.combiners.ToList()
  out | beam.Map(lambda got: print("GOT", sorted(got)))
"""


def _run_big_job(mode: str, tmp_path, **env_vars: str) -> subprocess.CompletedProcess:
  script = tmp_path / "big_job.py"
  script.write_text(_BIG_JOB)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(pathlib.Path(__file__).resolve().parents[2]),
                                                                   os.environ.get("PYTHONPATH")])), **env_vars)
  return subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=300, env=env)


def _big_job_expected() -> list:
  expected = []
  for k in range(16):
    values = [i for i in range(6400) if i % 16 == k]
    expected.append((k, 6000 * len(values), sum(i % 251 for i in values)))
  return expected


def test_worker_processes_get_every_element_of_a_shuffle_larger_than_the_data_queues(tmp_path):
  # 6,400 values of 6,000 bytes: 38 MB through one GroupByKey, several 8 MB queues and 2 MB messages.
  result = _run_big_job("ok", tmp_path)
  assert result.returncode == 0, result.stderr[-2000:]
  got = ast.literal_eval(result.stdout.split("GOT", 1)[1].strip())
  assert got == _big_job_expected()


def test_a_failing_transform_after_a_large_shuffle_fails_the_job_and_does_not_hang(tmp_path):
  result = _run_big_job("fail", tmp_path)  # subprocess timeout: a hang fails the test
  assert result.returncode != 0
  assert "planted failure at key 7" in result.stderr


def _spill_env(tmp_path) -> dict[str, str]:
  (tmp_path / "spill").mkdir()
  return {spill.MEMORY_ENV: "0.5", spill.DIR_ENV: str(tmp_path / "spill")}  # 512 KB: the 38 MB shuffle spills


def test_a_shuffle_past_the_spill_bound_gives_every_value_across_worker_processes(tmp_path):
  result = _run_big_job("ok", tmp_path, **_spill_env(tmp_path))
  assert result.returncode == 0, result.stderr[-2000:]
  assert ast.literal_eval(result.stdout.split("GOT", 1)[1].strip()) == _big_job_expected()
  assert not list((tmp_path / "spill").iterdir())  # the run's spill folder is gone


def test_a_failing_transform_after_a_spilled_shuffle_fails_the_job_and_leaves_no_spill_files(tmp_path):
  result = _run_big_job("fail", tmp_path, **_spill_env(tmp_path))
  assert result.returncode != 0
  assert "planted failure at key 7" in result.stderr
  assert not list((tmp_path / "spill").iterdir())


def test_a_spilled_shuffle_in_process_gives_every_value_and_cleans_up(tmp_path, monkeypatch):
  for name, value in _spill_env(tmp_path).items():
    monkeypatch.setenv(name, value)
  spills = []
  beam_spill = options.ChunkedGroupingBuffer.spill
  monkeypatch.setattr(options.ChunkedGroupingBuffer, "spill", lambda self: spills.append(1) or beam_spill(self))
  with options.make_pipeline(["--direct_num_workers=1"]) as p:
    # 3 GroupByKeys of 1 MB each, one after another, and one key with a value from every bundle
    for name, mod in (("A", 7), ("B", 1), ("C", 500)):
      grouped = (p | f"Create{name}" >> beam.Create(range(4000))
                 | f"Pair{name}" >> beam.Map(lambda i, m=mod: (i % m, (i, b"x" * 250)))
                 | f"Group{name}" >> beam.GroupByKey()
                 | f"Sum{name}" >> beam.MapTuple(lambda k, vs: (k, len(vs), sum(i for i, _ in vs))))
      assert_that(grouped, equal_to([(k, len(range(k, 4000, mod)), sum(range(k, 4000, mod))) for k in range(mod)]),
                  label=f"Check{name}")
  assert spills  # the bound was passed
  assert not list((tmp_path / "spill").iterdir())


def _spilling_buffer(tmp_path, bound: int):
  budget = spill.SpillBudget(bound, str(tmp_path))
  return type("B", (options.ChunkedGroupingBuffer,), {"budget": budget}), budget


def test_spilled_groups_keep_each_keys_values_in_order_and_split_large_partitions(tmp_path, monkeypatch):
  monkeypatch.setattr(spill, "FANOUT", 4)
  monkeypatch.setattr(options, "GROUPED_CHUNK_BYTES", 2500)
  cls, budget = _spilling_buffer(tmp_path, 4000)
  buf = cls(WINDOWED_KV, GROUPED, core.Windowing(beam.window.GlobalWindows()))
  items = [(k % 37, bytes([k % 256]) * 100) for k in range(2000)]  # 200 KB: about 100 spills of 4 KB
  for start in range(0, len(items), 20):
    out = create_OutputStream()
    for k, v in items[start:start + 20]:
      WINDOWED_KV.get_impl().encode_to_stream(windowed_value.WindowedValue((k, v), 0, [beam.window.GlobalWindow()]),
                                              out, True)
    buf.append(out.get())
    assert budget.held <= 4000
  shares = buf.partition(3)
  assert budget.held == 0
  got = [_decoded(list(share)) for share in shares]
  by_key = {k: vs for share in got for k, vs, *_ in share}
  assert sorted(k for share in got for k, *_ in share) == list(range(37))  # each key once
  assert by_key == {k: [v for kk, v in items if kk == k] for k in range(37)}  # arrival order
  ref = _decoded(_filled(execution.GroupingBuffer, items).partition(1)[0])
  assert all(row[2:] == ref[0][2:] for share in got for row in share)  # timestamp, window, pane as Beam's
  assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # partitions removed as read


def test_spilled_groups_join_as_bytes_exactly_as_decoded_and_encoded_again(tmp_path):
  cls, _ = _spilling_buffer(tmp_path, 1 << 20)
  any_kv = coders.WindowedValueCoder(coders.TupleCoder([coders.FastPrimitivesCoder(), coders.FastPrimitivesCoder()]))
  grouped = coders.WindowedValueCoder(coders.TupleCoder([coders.FastPrimitivesCoder(),
                                                         coders.IterableCoder(coders.FastPrimitivesCoder())]))
  buf = cls(any_kv, grouped, core.Windowing(beam.window.GlobalWindows()))
  key = ("band", 3)
  runs = [[np.arange(5), (1, "x")], [], [np.ones((2, 3), np.uint16)], [b"y" * 70000, None]]
  encoded = [grouped.get_impl().encode_nested(buf.window.with_value((key, vs))) for vs in runs]
  encoded_key = coders.FastPrimitivesCoder().encode(key)
  merged = buf._merge(encoded_key, encoded)  # pylint: disable=protected-access
  assert merged == buf._merge_decoded(key, encoded)  # pylint: disable=protected-access
  wv = grouped.get_impl().decode_nested(merged)
  assert wv.value[0] == key and len(wv.value[1]) == 5
  assert wv.value[1][1] == (1, "x") and wv.value[1][3] == b"y" * 70000 and wv.value[1][4] is None


def test_an_in_process_worker_has_its_whole_input_before_the_bundle_starts():
  # InMemoryDataChannel.input_elements reads what the channel holds when called: no thread may still be sending
  channel = data_plane.InMemoryDataChannel()
  manager = type("M", (), {"_worker_handler": type("W", (), {"data_conn": channel})()})()
  chunks = [bytes([i]) * (1 << 20) for i in range(5)]
  options._send_input_in_chunks(manager, "bundle", "read", iter(chunks))  # pylint: disable=protected-access
  assert "_input_senders" not in manager.__dict__
  got = b"".join(e.data for e in channel.inverse().input_elements("bundle", ["read"]))
  assert got == b"".join(chunks)


def test_appends_from_parallel_bundles_lose_no_value_when_one_spills_another(tmp_path, monkeypatch):
  # FnApiRunner's parallel bundles (a thread per worker) append to the same grouping buffers; a spill
  # started by one thread's append used to drop what another thread added meanwhile (select lost rows).
  switch = sys.getswitchinterval()
  sys.setswitchinterval(1e-6)  # thread switches inside appends
  try:
    cls, budget = _spilling_buffer(tmp_path, 3000)
    bufs = [cls(WINDOWED_KV, GROUPED, core.Windowing(beam.window.GlobalWindows())) for _ in range(2)]
    chunks = []
    for start in range(0, 6000, 30):
      out = create_OutputStream()
      for i in range(start, start + 30):
        WINDOWED_KV.get_impl().encode_to_stream(
            windowed_value.WindowedValue((i % 11, i.to_bytes(4, "big") * 5), 0, [beam.window.GlobalWindow()]), out,
            True)
      chunks.append(out.get())

    def feed(t: int) -> None:
      for c in chunks[t::4]:
        bufs[t % 2].append(c)

    threads = [threading.Thread(target=feed, args=(t,)) for t in range(4)]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
  finally:
    sys.setswitchinterval(switch)
  assert budget.held <= 3000
  for b, buf in enumerate(bufs):
    got = {k: vs for share in buf.partition(2) for k, vs, *_ in _decoded(list(share))}
    mine = [i for c in range(len(chunks)) if c % 4 in (b, b + 2) for i in range(c * 30, c * 30 + 30)]
    assert {k: sorted(vs) for k, vs in got.items()} == {
        k: sorted(i.to_bytes(4, "big") * 5 for i in mine if i % 11 == k) for k in range(11)}


def test_worker_processes_bound_their_data_channel_queues_before_beam_starts(monkeypatch):
  from apache_beam.runners.worker import sdk_worker_main  # pylint: disable=import-outside-toplevel

  from webpairs.pipelines.runtime import quiet_worker  # pylint: disable=import-outside-toplevel

  monkeypatch.setattr(data_plane, "_DEFAULT_SEND_QUEUE_MAX_BYTES", 100 << 20)
  seen = []
  monkeypatch.setattr(sdk_worker_main, "main", lambda argv: seen.append(data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES))  # pylint: disable=protected-access
  monkeypatch.setattr(logging.getLogger(), "handlers", list(logging.getLogger().handlers))
  monkeypatch.setattr(quiet_worker, "share_malloc_heaps", lambda: seen.append("heaps"))
  monkeypatch.setattr(quiet_worker, "_drop_finished_processors", lambda: seen.append("drop"))
  quiet_worker.main()
  assert seen == ["heaps", "drop", 8 << 20] and options.DATA_QUEUE_BYTES == 8 << 20
  channel = data_plane._GrpcDataChannel()  # pylint: disable=protected-access
  assert channel._to_send.max_bytes == channel._pending_send.max_bytes == 8 << 20  # pylint: disable=protected-access
  channel.close()


def test_worker_processes_shut_down_a_bundles_processor_when_it_ends(monkeypatch):
  import collections  # pylint: disable=import-outside-toplevel

  from apache_beam.runners.worker import sdk_worker  # pylint: disable=import-outside-toplevel

  from webpairs.pipelines.runtime import quiet_worker  # pylint: disable=import-outside-toplevel

  monkeypatch.setattr(sdk_worker.BundleProcessorCache, "release", sdk_worker.BundleProcessorCache.release)
  quiet_worker._drop_finished_processors()  # pylint: disable=protected-access
  quiet_worker._drop_finished_processors()  # pylint: disable=protected-access  # once only
  events = []

  class Processor:

    def reset(self):
      events.append("reset")

    def shutdown(self):
      events.append("shutdown")

  # pylint: disable=protected-access,attribute-defined-outside-init
  cache = sdk_worker.BundleProcessorCache.__new__(sdk_worker.BundleProcessorCache)
  cache._lock = threading.Lock()
  cache.known_not_running_instruction_ids = collections.OrderedDict()
  cache.active_bundle_processors = {"b1": ("stage", Processor()), "b2": ("stage", Processor())}
  cache.cached_bundle_processors = collections.defaultdict(list)
  cache.last_access_times = collections.defaultdict(float)
  cache.release("b1")
  assert events == ["reset", "shutdown"] and cache.cached_bundle_processors["stage"] == []
  assert list(cache.active_bundle_processors) == ["b2"] and "b1" in cache.known_not_running_instruction_ids
