# Copyright 2026 The transformers-condenser Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Shared pieces of the benchmarks: machine description, timing, interleaving, peak memory and statistics.

Timing: every variant of a comparison runs in the same process on the same inputs; after warm-up, each repeat runs
every variant once, in an order rotated from one repeat to the next, so that slow drifts of the machine (other
processes, frequency changes) hit all variants alike. Results are medians over repeats and ratios of medians.

Peak memory: on CUDA, `torch.cuda.max_memory_allocated` (reset before the measured step). On CPU, where torch keeps no
allocator statistics, [`LiveTensorBytes`] counts the bytes of every tensor storage alive during the step: the
storages that exist when it starts (parameters, gradients, optimizer state, inputs) plus every storage an ATen
operator creates inside it, each counted until it is freed. It is deterministic and sees what an allocator counter
would see, except scratch buffers that kernels allocate and free internally.
"""

import contextlib
import os
import platform
import statistics
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


GIB = 1024**3


def make_optimizer(parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer of every benchmarked step: fused AdamW, what `condenser-pretrain` runs by default.

    `Trainer`'s default `optim` is `"adamw_torch_fused"`; the fused kernel also takes about a quarter of the time of
    the `foreach` AdamW on CPU, so a slower optimizer would only dilute the differences between the variants.
    """
    return torch.optim.AdamW(parameters, lr=1e-4, fused=True)


def set_seed(seed: int) -> None:
    """Seed torch's CPU and CUDA generators."""
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def cpu_model_name() -> str:
    """The CPU model as `/proc/cpuinfo` names it (falls back to `platform.processor()`)."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info(device: torch.device, dtype: str, attn_implementation: str) -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, threads, GPU, library versions, dtype and attention backend."""
    import transformers

    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model_name(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "dtype": dtype,
        "attn_implementation": attn_implementation,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(load, 2) for load in os.getloadavg()]
    return info


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a wall-clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def autocast_context(device: torch.device, dtype: str) -> Iterator[None]:
    """bfloat16 / float16 mixed precision when asked for (as `Trainer --bf16` runs forward passes), else nothing."""
    if dtype == "float32":
        yield
    else:
        with torch.autocast(device_type=device.type, dtype=getattr(torch, dtype)):
            yield


class Stopwatch:
    """Wall-clock and process CPU seconds of named phases, with the device synchronised before each reading.

    Process CPU time (`time.process_time`) counts only the cycles this process ran, so on a shared CPU it is far less
    sensitive than wall-clock time to other processes' load; on GPU it only measures the host side.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block (added to `seconds[name]` and `cpu_seconds[name]`)."""
        synchronize(self.device)
        start, cpu_start = time.perf_counter(), time.process_time()
        yield
        synchronize(self.device)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - cpu_start


@dataclass
class Timings:
    """Per variant and phase, the wall-clock and the process CPU seconds of every timed repeat."""

    wall: dict[str, dict[str, list[float]]]
    cpu: dict[str, dict[str, list[float]]]

    def total(self, variant: str, cpu: bool = False) -> list[float]:
        """Seconds of each repeat, all phases together."""
        phases = (self.cpu if cpu else self.wall)[variant]
        return [sum(repeat) for repeat in zip(*phases.values())]


def interleaved_timings(
    variants: dict[str, Callable[[Stopwatch], None]],
    device: torch.device,
    warmup: int,
    repeats: int,
    progress: Callable[[str], None] | None = None,
) -> Timings:
    """Time each variant's step `repeats` times, interleaved, after `warmup` untimed steps of each.

    Repeat `r` runs the variants in their given order rotated by `r` places, so that each variant runs first, second,
    ... equally often. Each step callable times its own phases with the `Stopwatch` it receives.
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name](Stopwatch(device))
    timings = Timings(wall={name: {} for name in names}, cpu={name: {} for name in names})
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            stopwatch = Stopwatch(device)
            variants[name](stopwatch)
            for phase in stopwatch.seconds:
                timings.wall[name].setdefault(phase, []).append(stopwatch.seconds[phase])
                timings.cpu[name].setdefault(phase, []).append(stopwatch.cpu_seconds[phase])
        if progress is not None:
            medians = ", ".join(f"{name} {statistics.median(timings.total(name)):.3g}s" for name in names)
            progress(f"  repeat {repeat + 1}/{repeats}, median step so far: {medians}")
    return timings


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median, minimum, maximum and count of a list of measurements."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def _storages(tensors: Iterable[torch.Tensor]) -> dict[tuple[str, int], int]:
    """`{(device, data pointer): bytes}` of the distinct storages behind `tensors` (views and tied weights once)."""
    storages = {}
    for tensor in tensors:
        if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
            storage = tensor.untyped_storage()
            storages[(str(storage.device), storage.data_ptr())] = storage.nbytes()
    return storages


def storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind `tensors` (views and tied weights counted once)."""
    return sum(_storages(tensors).values())


def state_tensors(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, inputs: dict[str, Any]
) -> list[torch.Tensor]:
    """The tensors alive before a training step: parameters, buffers, gradients, optimizer state and inputs."""
    tensors = list(model.parameters()) + list(model.buffers())
    tensors += [parameter.grad for parameter in model.parameters() if parameter.grad is not None]
    if optimizer is not None:
        for state in optimizer.state.values():
            tensors += [value for value in state.values() if isinstance(value, torch.Tensor)]
    tensors += [value for value in inputs.values() if isinstance(value, torch.Tensor)]
    return tensors


class LiveTensorBytes(TorchDispatchMode):
    """Peak bytes of live tensor storages while the mode is active, counted at the ATen operator level (CPU).

    `existing` are the tensors alive when the mode starts (parameters, optimizer state, inputs): their storages count
    from the start and are never counted again when an operator returns them (in-place updates, views). Every other
    storage an operator returns is counted from then until it is freed (a weak-reference finalizer on the storage,
    whose Python object lives as long as the storage does); views and in-place results share their storage and are
    not counted again. Scratch memory that a kernel allocates and frees internally is not seen. The autograd engine
    runs CPU backward passes on the calling thread, which inherits the mode.
    """

    def __init__(self, existing: Iterable[torch.Tensor] = ()):
        super().__init__()
        existing_storages = _storages(existing)
        self._existing = set(existing_storages)
        self.current = self.peak = sum(existing_storages.values())
        self._live: dict[int, int] = {}

    def _release(self, key: int) -> None:
        self.current -= self._live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        outputs = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(outputs)[0]:
            if not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
                continue
            storage = tensor.untyped_storage()
            key = id(storage)
            if key in self._live or (str(storage.device), storage.data_ptr()) in self._existing:
                continue
            self._live[key] = storage.nbytes()
            self.current += self._live[key]
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._release, key)
        return outputs


@dataclass
class PeakMemory:
    """Peak memory of a training step, in bytes, by phase (see the module docstring for the method).

    Use `track()` around the whole step and call `mark(name)` after each phase: `peaks[name]` is the peak from the
    start of the step to that mark. `start_bytes` is the memory of `existing` (the measured model's parameters,
    buffers, optimizer state and inputs) when the step starts; on CUDA the peak is `start_bytes` plus the allocator's
    peak above what was allocated at the start, so that other models alive on the device (the other variants) do not
    count.
    """

    device: torch.device
    existing: list[torch.Tensor] = field(default_factory=list)
    start_bytes: int = 0
    peaks: dict[str, int] = field(default_factory=dict)
    _mode: LiveTensorBytes | None = None
    _cuda_start: int = 0

    @contextlib.contextmanager
    def track(self) -> Iterator["PeakMemory"]:
        """Count the peak memory during the block."""
        self.start_bytes = storage_bytes(self.existing)
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._cuda_start = torch.cuda.memory_allocated(self.device)
            yield self
        else:
            self._mode = LiveTensorBytes(self.existing)
            with self._mode:
                yield self
            self._mode = None

    def mark(self, name: str) -> None:
        """Record the peak so far under `name`."""
        if self.device.type == "cuda":
            synchronize(self.device)
            self.peaks[name] = self.start_bytes + torch.cuda.max_memory_allocated(self.device) - self._cuda_start
        else:
            self.peaks[name] = self._mode.peak


def step_peak_memory(
    forward_backward: Callable[[], None],
    optimizer: torch.optim.Optimizer,
    model: torch.nn.Module,
    inputs: dict[str, Any],
    device: torch.device,
) -> dict[str, int]:
    """Peak memory of one training step (`forward_backward()`, then the optimizer step), in bytes.

    Returns `state` (what is in use when the step starts: parameters, buffers, optimizer state, inputs), and the
    peaks up to the end of the backward pass (`forward_backward`) and over the whole step (`step`). Measure after a
    warm-up step, so that the optimizer state already exists, as in every step of a training run.
    """
    memory = PeakMemory(device, existing=state_tensors(model, optimizer, inputs))
    with memory.track():
        forward_backward()
        memory.mark("forward_backward")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        memory.mark("step")
    return {"state": memory.start_bytes, **memory.peaks}


def _status_bytes(field_name: str) -> int:
    """A memory field of Linux `/proc/self/status` (reported in kB), in bytes."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field_name} field")


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux)."""
    return _status_bytes("VmRSS")


def reset_peak_rss() -> bool:
    """Reset this process's peak resident set size to the current one (Linux `clear_refs`); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """Highest resident set size of this process since it started or since `reset_peak_rss` (Linux `VmHWM`)."""
    return _status_bytes("VmHWM")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def log(message: str) -> None:
    """Print a progress line at once (the benchmarks run for minutes)."""
    print(message, flush=True)
