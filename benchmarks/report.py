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
"""Tables, target checks and plots from a results file of `run_benchmarks.py`, without measuring again.

python benchmarks/report.py benchmarks/results/results.json --plots_dir docs/source/en/imgs
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark_pretraining import ratios
from benchmark_utils import markdown_table


MIB = 1024**2
VARIANT_LABELS = {
    "condenser": "CondenserForPreTraining",
    "condenser_keep_attention": "CondenserForPreTraining, plain sdpa",
    "original": "original recipe",
    "floor": "floor (plain BERT, all layers in one stack)",
}
FAMILY_NAMES = {"bert": "BERT", "roberta": "RoBERTa"}
# The floor is drawn first, wide and pale, and Condenser dashed on top: the two lines often coincide.
LINE_STYLES = {
    "floor": {"color": "tab:gray", "linewidth": 5, "alpha": 0.45, "marker": "o", "markersize": 9},
    "original": {"color": "tab:red", "marker": "o"},
    "condenser_keep_attention": {"color": "tab:cyan", "linestyle": ":", "marker": "^"},
    "condenser": {"color": "tab:blue", "linestyle": "--", "marker": "s"},
}


def backbone_type(run: dict[str, Any]) -> str:
    """The backbone family of a pre-training run (`"bert"` for results written before the field existed)."""
    return run["model"].get("backbone_type", "bert")


def variant_label(name: str, run: dict[str, Any]) -> str:
    """The label of a variant in the tables and plots; the floor names the run's backbone family."""
    label = VARIANT_LABELS[name]
    family = FAMILY_NAMES.get(backbone_type(run), backbone_type(run))
    return label.replace("plain BERT", f"plain {family}") if name == "floor" else label


def _range(summary: dict[str, float]) -> str:
    """`median (min-max)` of a timing summary, in seconds."""
    return f"{summary['median']:.3g} ({summary['min']:.3g}-{summary['max']:.3g})"


def _mib(num_bytes: float) -> str:
    return f"{num_bytes / MIB:,.0f}"


def _verdict(*met: bool) -> str:
    """`yes` / `**no**` for one check; for a wall-clock and a CPU-time check, both named when they differ."""
    if len(met) == 1 or met[0] == met[1]:
        return "yes" if met[0] else "**no**"
    return f"wall-clock {'yes' if met[0] else '**no**'}, CPU time {'yes' if met[1] else '**no**'}"


def target_checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the benchmark issue with its measured values and whether it is met.

    Time ratios are checked on wall-clock and on process CPU time medians (both must hold for the forward + backward
    and for the whole step with AdamW). The encoding target is checked on the geometric mean over the grid.
    """
    checks = []
    for run in results["pretraining"]:
        for batch_size, entry in run["batches"].items():
            where = f"{run['shape']}, batch {batch_size} x {run['seq_len']}"
            floor = ratios(entry, "floor", "original")
            for denominator, limit in (("original", 0.70), ("floor", 1.10)):
                ratio = ratios(entry, "condenser", denominator)
                # Against the original, say where the floor itself stands: no implementation can beat it.
                wall_floor = f" (floor: {floor['step']:.3f})" if denominator == "original" else ""
                cpu_floor = f" (floor: {floor['step_cpu']:.3f})" if denominator == "original" else ""
                checks.append(
                    {
                        "target": f"step time <= {limit:.2f}x the {denominator}'s",
                        "where": where,
                        "wall": f"{ratio['forward_backward']:.3f} fwd+bwd, {ratio['step']:.3f} with AdamW{wall_floor}",
                        "cpu": f"{ratio['forward_backward_cpu']:.3f} fwd+bwd, {ratio['step_cpu']:.3f} with AdamW"
                        + cpu_floor,
                        "met": _verdict(
                            max(ratio["forward_backward"], ratio["step"]) <= limit,
                            max(ratio["forward_backward_cpu"], ratio["step_cpu"]) <= limit,
                        ),
                    }
                )
            if batch_size == "32":
                ratio = ratios(entry, "condenser", "original")["peak_memory"]
                floor_ratio = ratios(entry, "floor", "original")["peak_memory"]
                others = f"floor: {floor_ratio:.3f}"
                if "condenser_keep_attention" in entry["variants"]:
                    keep_ratio = ratios(entry, "condenser_keep_attention", "original")["peak_memory"]
                    others = f"plain sdpa: {keep_ratio:.3f}; {others}"
                checks.append(
                    {
                        "target": "peak memory <= 0.70x the original's",
                        "where": where,
                        "wall": f"{ratio:.3f} ({others})",
                        "cpu": "",
                        "met": _verdict(ratio <= 0.70),
                    }
                )
    if "encoding" in results:
        encoding = results["encoding"]
        cells = encoding["cells"]
        lowest = min(cells, key=lambda cell: cell["throughput_ratio"])
        lowest_cpu = min(cells, key=lambda cell: cell["throughput_ratio_cpu"])
        checks.append(
            {
                "target": "encoding throughput >= 0.98x BertModel's",
                "where": f"geometric mean over {len(cells)} (batch, length) cells",
                "wall": f"{encoding['throughput_ratio_geometric_mean']:.3f} (lowest cell {lowest['throughput_ratio']:.3f} "
                f"at {lowest['batch_size']} x {lowest['seq_len']})",
                "cpu": f"{encoding['throughput_ratio_cpu_geometric_mean']:.3f} (lowest cell "
                f"{lowest_cpu['throughput_ratio_cpu']:.3f} at {lowest_cpu['batch_size']} x {lowest_cpu['seq_len']})",
                "met": _verdict(
                    encoding["throughput_ratio_geometric_mean"] >= 0.98,
                    encoding["throughput_ratio_cpu_geometric_mean"] >= 0.98,
                ),
            }
        )
    cache = results["gradient_cache"]
    peaks = [entry["gradient_cache"]["memory_bytes"]["step"] for entry in cache["batches"].values()]
    above = [
        entry["gradient_cache"]["memory_bytes"]["step"] - entry["gradient_cache"]["memory_bytes"]["state"]
        for entry in cache["batches"].values()
    ]
    checks.append(
        {
            "target": "gradient-cache peak memory flat (within 10%)",
            "where": f"{cache['shape']}, {', '.join(cache['batches'])} spans, chunk {cache['chunk_size']}",
            "wall": f"max / min - 1 = {max(peaks) / min(peaks) - 1:.1%} (above the model state: "
            f"{max(above) / min(above) - 1:.1%})",
            "cpu": "",
            "met": _verdict(max(peaks) / min(peaks) - 1 <= 0.10),
        }
    )
    if "evaluation" in results:
        evaluation = results["evaluation"]
        throughput = evaluation["throughput"]
        checks.append(
            {
                "target": "condenser-evaluate corpus encoding >= 0.95x a bare AutoModel loop",
                "where": f"{throughput['documents']} documents, batch {throughput['batch_size']}, "
                f"{throughput['max_length']} tokens",
                "wall": f"{throughput['throughput_ratio']:.3f} ({throughput['documents_per_s']['condenser_evaluate']:.1f}"
                f" vs {throughput['documents_per_s']['bare_loop']:.1f} documents/s)",
                "cpu": "",
                "met": _verdict(throughput["throughput_ratio"] >= 0.95),
            }
        )
        if "memory" in evaluation:
            readings = evaluation["memory"]["readings"]
            checks.append(
                {
                    "target": "condenser-evaluate peak memory flat (within 10%)",
                    "where": " -> ".join(f"{reading['documents']:,} documents" for reading in readings),
                    "wall": " -> ".join(f"{_mib(reading['peak_rss'])} MiB" for reading in readings)
                    + f" (ratio {evaluation['memory']['peak_ratio']:.3f})",
                    "cpu": "",
                    "met": _verdict(evaluation["memory"]["peak_ratio"] <= 1.10),
                }
            )
    return checks


def machine_lines(results: dict[str, Any]) -> list[str]:
    """The machine and settings as a markdown list."""
    machine = results["machine"]
    device = machine["gpu"] or f"CPU: {machine['cpu']}"
    lines = [
        f"- Device: {device} ({machine['device']}); {machine['usable_cores']} usable of {machine['logical_cores']} "
        f"logical cores, {machine['memory_gib']} GiB RAM; torch threads: {machine['torch_threads']}",
        f"- Software: Python {machine['python']}, torch {machine['torch']}, transformers {machine['transformers']}; "
        f"{machine['platform']}",
        f"- dtype: {machine['dtype']}; attention backend: {machine['attn_implementation']} (all variants)",
        f"- Measured: {machine['date']}; run time {results.get('run_minutes', '?')} minutes; command: "
        f"`{results['command']}`",
    ]
    if "load_average_at_start" in machine:
        lines.append(
            f"- Load average (1, 5, 15 min) at start {machine['load_average_at_start']}, at end "
            f"{machine.get('load_average_at_end', '?')}: other processes shared the cores"
        )
    if results.get("notes"):
        lines.append(f"- Note: {results['notes']}")
    for run in results["pretraining"]:
        if "machine" in run:
            lines.append(f"- {run['shape']} measured separately: {separate_run_summary(run)}")
    return lines


def separate_run_summary(run: dict[str, Any]) -> str:
    """Date, command, run time and load of a pre-training run measured apart from the rest (it has its own `machine`)."""
    machine = run["machine"]
    text = (
        f"{machine['date']}, `{run.get('command', 'benchmark_pretraining.py')}`, {run.get('run_minutes', '?')} "
        f"minutes; CPU: {machine['cpu']}, torch threads: {machine['torch_threads']}, torch {machine['torch']}, "
        f"transformers {machine['transformers']}"
    )
    if "load_average_at_start" in machine:
        text += (
            f"; load average (1, 5, 15 min) at start {machine['load_average_at_start']}, at end "
            f"{machine.get('load_average_at_end', '?')}"
        )
    if run.get("notes"):
        text += f". {run['notes']}"
    return text


def pretraining_tables(results: dict[str, Any]) -> list[str]:
    """One table per model shape: time, memory and ratios of each variant at each batch size."""
    parts = []
    for run in results["pretraining"]:
        model = run["model"]
        family = FAMILY_NAMES.get(backbone_type(run), backbone_type(run))
        family = "" if backbone_type(run) == "bert" else f"{family} backbone, "
        parts.append(
            f"#### {run['shape']}: {family}hidden {model['hidden_size']}, {model['num_hidden_layers']} layers + "
            f"{model['n_head_layers']} head layers (skip_from {model['skip_from']}), vocabulary {model['vocab_size']}, "
            f"{run['parameters'] / 1e6:.1f}M parameters, sequences of {run['seq_len']} tokens"
        )
        rows = []
        for batch_size, entry in run["batches"].items():
            for name, variant in entry["variants"].items():
                vs_original = ratios(entry, name, "original")
                vs_floor = ratios(entry, name, "floor")
                memory = variant["memory_bytes"]
                rows.append(
                    [
                        batch_size,
                        variant_label(name, run),
                        _range(variant["forward_backward_s"]),
                        _range(variant["step_s"]),
                        f"{vs_original['step']:.2f} / {vs_floor['step']:.2f}",
                        f"{vs_original['step_cpu']:.2f} / {vs_floor['step_cpu']:.2f}",
                        _mib(memory["step"]),
                        _mib(memory["step"] - memory["state"]),
                        f"{vs_original['peak_memory']:.2f}",
                    ]
                )
        header = [
            "batch",
            "variant",
            "fwd+bwd s, median (min-max)",
            "step with AdamW s",
            "step time vs original / floor",
            "same, CPU time",
            "peak MiB",
            "peak above state MiB",
            "peak vs original",
        ]
        parts.append(markdown_table(header, rows))
        repeats = ", ".join(
            f"batch {batch}: {entry['variants']['condenser']['step_s']['n']}"
            for batch, entry in run["batches"].items()
        )
        losses = run["losses_eval_mode"]
        parts.append(
            f"Timed repeats per variant ({repeats}) after {run['warmup']} warm-up step(s). Losses on the same weights "
            f"and batch in eval mode: Condenser {losses['condenser']:.6f}, original recipe {losses['original']:.6f}, "
            f"floor {losses['floor']:.6f} (different wiring of the last two layers, same amount of work)."
            + (
                f" Measured separately ({run['machine']['date']}): see the machine section."
                if "machine" in run
                else ""
            )
        )
    return parts


def rss_table(results: dict[str, Any]) -> list[str]:
    """The resident-memory cross-check, where it was run."""
    rows = []
    for run in results["pretraining"]:
        for batch_size, entry in run["batches"].items():
            for name, reading in entry.get("rss_check_bytes", {}).items():
                counted = entry["variants"][name]["memory_bytes"]
                rows.append(
                    [
                        f"{run['shape']}, batch {batch_size}",
                        variant_label(name, run),
                        _mib(reading["peak_increase"]),
                        _mib(reading["peak_rss"]),
                        _mib(counted["forward_backward"] - counted["state"]),
                    ]
                )
    if not rows:
        return []
    header = [
        "shape, batch",
        "variant",
        "peak RSS increase in the step MiB",
        "peak RSS in the step MiB",
        "tensor counter: fwd+bwd peak above state MiB",
    ]
    return [markdown_table(header, rows)]


def encoding_table(results: dict[str, Any]) -> list[str]:
    """Throughput of both models per grid cell."""
    encoding = results["encoding"]
    rows = [
        [
            cell["batch_size"],
            cell["seq_len"],
            f"{cell['condenser']['sequences_per_s']:,.1f}",
            f"{cell['bert']['sequences_per_s']:,.1f}",
            f"{cell['throughput_ratio']:.3f}",
            f"{cell['throughput_ratio_cpu']:.3f}",
            cell["repeats"],
        ]
        for cell in encoding["cells"]
    ]
    header = ["batch", "length", "CondenserModel seq/s", "BertModel seq/s", "ratio", "ratio, CPU time", "repeats"]
    model = encoding["model"]
    return [
        f"Checkpoint: {encoding['checkpoint']} (hidden {model['hidden_size']}, {model['num_hidden_layers']} layers), "
        "loaded into both models; BertModel without its pooler.",
        markdown_table(header, rows),
    ]


def gradient_cache_table(results: dict[str, Any]) -> list[str]:
    """Step time and peak memory with and without the gradient cache per contrastive batch size."""
    cache = results["gradient_cache"]
    rows = []
    for batch_size, entry in cache["batches"].items():
        plain, cached = entry["no_cache"], entry["gradient_cache"]
        rows.append(
            [
                batch_size,
                _range(plain["step_s"]),
                _range(cached["step_s"]),
                f"{cached['step_s']['median'] / plain['step_s']['median']:.2f}",
                _mib(plain["memory_bytes"]["step"]),
                _mib(cached["memory_bytes"]["step"]),
                _mib(plain["memory_bytes"]["step"] - plain["memory_bytes"]["state"]),
                _mib(cached["memory_bytes"]["step"] - cached["memory_bytes"]["state"]),
            ]
        )
    header = [
        "spans",
        "step s, no cache",
        "step s, gradient cache",
        "time cache / no cache",
        "peak MiB, no cache",
        "peak MiB, cache",
        "above state, no cache",
        "above state, cache",
    ]
    model = cache["model"]
    return [
        f"`CondenserForPreTraining(cocondenser=True)`, {cache['shape']} shape (hidden {model['hidden_size']}, "
        f"{model['num_hidden_layers']} + {model['n_head_layers']} layers), spans of {cache['seq_len']} tokens, "
        f"chunk size {cache['chunk_size']}, AdamW step included.",
        markdown_table(header, rows),
    ]


def markdown_report(results: dict[str, Any]) -> str:
    """All tables as one markdown document."""
    parts = ["## Machine", "\n".join(machine_lines(results)), "## Targets"]
    checks = target_checks(results)
    parts.append(
        markdown_table(
            ["target", "where", "measured (wall-clock; memory)", "measured (CPU time)", "met"],
            [[check["target"], check["where"], check["wall"], check["cpu"], check["met"]] for check in checks],
        )
    )
    parts += ["## Pre-training step", *pretraining_tables(results)]
    rss = rss_table(results)
    if rss:
        parts += ["### Resident-memory cross-check (each variant in a fresh process, one forward + backward)", *rss]
    if "encoding" in results:
        parts += ["## Encoding throughput", *encoding_table(results)]
    parts += ["## coCondenser gradient cache", *gradient_cache_table(results)]
    if "evaluation" in results:
        parts += ["## condenser-evaluate", *evaluation_table(results)]
    return "\n\n".join(parts) + "\n"


def evaluation_table(results: dict[str, Any]) -> list[str]:
    """condenser-evaluate's encoding throughput against a bare loop, and its peak memory per corpus size."""
    evaluation = results["evaluation"]
    throughput = evaluation["throughput"]
    rows = [
        [name, _range(throughput["times_s"][name]), f"{throughput['documents_per_s'][name]:.1f}"]
        for name in ("condenser_evaluate", "bare_loop")
    ]
    tables = [markdown_table(["variant", "corpus time, s (median, min-max)", "documents/s"], rows)]
    if "memory" in evaluation:
        rows = [
            [f"{reading['documents']:,}", _mib(reading["peak_rss"]), f"{reading['seconds']:.0f}"]
            for reading in evaluation["memory"]["readings"]
        ]
        tables.append(markdown_table(["documents", "peak resident memory, MiB", "seconds"], rows))
    return tables


def plot_pretraining(results: dict[str, Any], path: Path, runs: Sequence[dict[str, Any]] | None = None) -> None:
    """Step time and peak memory against batch size, one row per model shape (of `runs`, default: every pre-training
    run), one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["pretraining"] if runs is None else runs
    figure, axes = plt.subplots(len(runs), 2, figsize=(11, 4 * len(runs)), squeeze=False)
    for row, run in zip(axes, runs):
        batch_sizes = [int(batch) for batch in run["batches"]]
        measured = run["batches"][str(batch_sizes[0])]["variants"]
        for name in LINE_STYLES:
            if name not in measured:
                continue
            label = variant_label(name, run)
            entries = [run["batches"][str(batch)]["variants"][name] for batch in batch_sizes]
            row[0].errorbar(
                batch_sizes,
                [entry["step_s"]["median"] for entry in entries],
                yerr=[
                    [entry["step_s"]["median"] - entry["step_s"]["min"] for entry in entries],
                    [entry["step_s"]["max"] - entry["step_s"]["median"] for entry in entries],
                ],
                capsize=3,
                label=label,
                **LINE_STYLES[name],
            )
            row[1].plot(
                batch_sizes,
                [entry["memory_bytes"]["step"] / MIB / 1024 for entry in entries],
                label=label,
                **LINE_STYLES[name],
            )
        title = f"{run['shape']}, {run['seq_len']} tokens"
        row[0].set(title=f"Training step time ({title})", xlabel="batch size", ylabel="seconds (median, min-max)")
        row[1].set(title=f"Peak memory of the step ({title})", xlabel="batch size", ylabel="GiB")
        for axis in row:
            axis.set_xticks(batch_sizes)
            axis.set_ylim(bottom=0)
            axis.grid(alpha=0.3)
            axis.legend()
    separate = sorted({run["machine"]["date"].split()[0] for run in runs if "machine" in run})
    measured = f" (measured separately, {', '.join(separate)})" if separate else ""
    figure.suptitle(f"Condenser pre-training step, {machine_short(results)}{measured}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_gradient_cache(results: dict[str, Any], path: Path) -> None:
    """Step time and peak memory against the contrastive batch size, with and without the gradient cache."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cache = results["gradient_cache"]
    batch_sizes = [int(batch) for batch in cache["batches"]]
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for name, label, color in (
        ("no_cache", "no cache", "tab:red"),
        ("gradient_cache", f"gradient cache, chunk {cache['chunk_size']}", "tab:blue"),
    ):
        entries = [cache["batches"][str(batch)][name] for batch in batch_sizes]
        time_axis.plot(
            batch_sizes, [entry["step_s"]["median"] for entry in entries], marker="o", label=label, color=color
        )
        memory_axis.plot(
            batch_sizes,
            [entry["memory_bytes"]["step"] / MIB for entry in entries],
            marker="o",
            label=label,
            color=color,
        )
    time_axis.set(title="Training step time", xlabel="contrastive batch (spans)", ylabel="seconds (median)")
    memory_axis.set(title="Peak memory of the step", xlabel="contrastive batch (spans)", ylabel="MiB")
    for axis in (time_axis, memory_axis):
        axis.set_xscale("log", base=2)
        axis.set_xticks(batch_sizes, [str(batch) for batch in batch_sizes])
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"coCondenser, {cache['shape']} shape, {cache['seq_len']}-token spans, {machine_short(results)}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def machine_short(results: dict[str, Any]) -> str:
    """A few words naming the device, for plot titles."""
    machine = results["machine"]
    if machine["gpu"]:
        return f"{machine['gpu']}, {machine['dtype']}"
    return f"CPU, {machine['torch_threads']} thread(s), {machine['dtype']}"


def run_label(device: str, dtype: str) -> str:
    """`""` for the reference run (CPU, float32), else `"<device type>_<dtype>"` (e.g. `"cuda_bfloat16"`): the name of
    the run's results folder and the suffix of its plots, so that GPU runs do not replace the CPU results."""
    device_type = device.split(":")[0]  # "cuda:0" -> "cuda"
    return "" if (device_type, dtype) == ("cpu", "float32") else f"{device_type}_{dtype}"


def write_report(results: dict[str, Any], markdown_path: Path, plots_dir: Path) -> list[Path]:
    """Write the markdown tables and the plots; return the paths written.

    The plots are `benchmark_pretraining.png` (the BERT shapes), `benchmark_pretraining_<family>.png` for the shapes of
    each other backbone family (e.g. `benchmark_pretraining_roberta.png`) and `benchmark_gradient_cache.png`, with
    `_<run_label>` before the extension for runs other than the CPU float32 reference.
    """
    markdown_path.write_text(markdown_report(results), encoding="utf-8")
    label = run_label(results["machine"]["device"], results["machine"]["dtype"])
    label = f"_{label}" if label else ""
    families: dict[str, list[dict[str, Any]]] = {}
    for run in results["pretraining"]:
        families.setdefault(backbone_type(run), []).append(run)
    written = [markdown_path]
    for family, runs in families.items():
        family_suffix = "" if family == "bert" else f"_{family}"
        pretraining_plot = plots_dir / f"benchmark_pretraining{family_suffix}{label}.png"
        plot_pretraining(results, pretraining_plot, runs)
        written.append(pretraining_plot)
    gradient_cache_plot = plots_dir / f"benchmark_gradient_cache{label}.png"
    plot_gradient_cache(results, gradient_cache_plot)
    return [*written, gradient_cache_plot]


def main(argv: Sequence[str] | None = None) -> None:
    """Redraw the tables and plots of a results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="results.json written by run_benchmarks.py")
    parser.add_argument("--markdown", default=None, help="tables file (default: results.md next to the results)")
    parser.add_argument("--plots_dir", default=None, help="folder of the PNG plots (default: next to the results)")
    args = parser.parse_args(argv)
    results_path = Path(args.results)
    results = json.loads(results_path.read_text(encoding="utf-8"))
    markdown_path = Path(args.markdown) if args.markdown else results_path.with_name("results.md")
    plots_dir = Path(args.plots_dir) if args.plots_dir else results_path.parent
    written = write_report(results, markdown_path, plots_dir)
    print("Wrote " + ", ".join(map(str, written)))


if __name__ == "__main__":
    sys.exit(main())
