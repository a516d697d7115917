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
"""Tests of `condenser-demo`, the README's first command."""

import json
import re
from pathlib import Path
from unittest import mock

import pytest
import torch
from transformers import AutoModel

from transformers_condenser import CondenserForPreTraining, CondenserModel, demo
from transformers_condenser.beir_evaluation import load_beir_folder


def test_demo_corpus_is_built_in_and_non_trivial():
    corpus = demo.load_demo_corpus()
    assert len(corpus) > 50
    assert all(len(paragraph.split()) >= 5 for paragraph in corpus)


def test_quickstart_trains_saves_and_reloads_through_auto_model(tmp_path: Path, capsys: pytest.CaptureFixture):
    result = demo.run_quickstart(tmp_path / "out", steps=2, batch_size=4, max_length=32)
    # The returned losses are the ones printed at each step.
    printed = [float(match) for match in re.findall(r"^step +\d+/2 +loss (\S+)", capsys.readouterr().out, re.M)]
    assert len(result.losses) == 2 and printed == [round(loss, 3) for loss in result.losses]
    assert result.reloaded_class == "CondenserModel"
    assert result.embedding_shape == (2, 128)
    files = sorted(p.name for p in result.output_dir.iterdir())
    assert "model.safetensors" in files and "config.json" in files and "tokenizer.json" in files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    # The saved checkpoint holds the head too.
    full = CondenserForPreTraining.from_pretrained(result.output_dir)
    assert len(full.head_layers) == full.config.n_head_layers
    # The backbone AutoModel reloads is the saved one.
    backbone = AutoModel.from_pretrained(result.output_dir)
    assert isinstance(backbone, CondenserModel)
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, full.bert.state_dict()[key], rtol=0, atol=0, msg=key)
    # Nothing is left behind next to the output.
    assert sorted(p.name for p in (tmp_path).iterdir()) == ["out"]


def test_quickstart_is_deterministic_under_a_seed(tmp_path: Path):
    first = demo.run_quickstart(tmp_path / "a", steps=2, batch_size=4, max_length=32, seed=3)
    second = demo.run_quickstart(tmp_path / "b", steps=2, batch_size=4, max_length=32, seed=3)
    assert first.losses == second.losses


def test_interrupted_save_keeps_previous_output(tmp_path: Path):
    output_dir = tmp_path / "out"
    demo.run_quickstart(output_dir, steps=1, batch_size=2, max_length=32)
    before = {p.name: p.read_bytes() for p in output_dir.iterdir()}

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    with mock.patch("transformers.PreTrainedTokenizerFast.save_pretrained", side_effect=crash):
        with pytest.raises(KeyboardInterrupt):
            demo.run_quickstart(output_dir, steps=1, batch_size=2, max_length=32, seed=1)
    after = {p.name: p.read_bytes() for p in output_dir.iterdir()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"batch_size": 0}, {"max_length": 4}])
def test_quickstart_rejects_bad_arguments(tmp_path: Path, kwargs: dict):
    with pytest.raises(ValueError, match="must be at least 1|between 8 and 512"):
        demo.run_quickstart(tmp_path / "out", **kwargs)


def test_cli_prints_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture):
    torch.manual_seed(0)
    demo.main(["--quick", "--output_dir", str(tmp_path / "cli"), "--steps", "1", "--batch_size", "2"])
    printed = capsys.readouterr().out
    assert f"saved model, head and tokenizer to {tmp_path / 'cli'}" in printed
    assert "AutoModel reloaded a CondenserModel" in printed
    assert "(2, 128)" in printed


def test_full_demo_measures_retrieval_before_and_after_both_pretrainings(tmp_path: Path, capsys):
    result = demo.run_demo(tmp_path / "demo", steps=2, batch_size=4, num_queries=12, seed=0)
    assert set(result.results) == {"in-corpus", "held-out"}
    assert result.num_pairs == {"in-corpus": 12, "held-out": 12}
    for variants in result.results.values():
        assert list(variants) == ["before", "coCondenser", "Condenser"]
        for metrics in variants.values():
            assert 0.0 < metrics["MRR@10"] <= 1.0 and set(metrics) == {"nDCG@10", "MRR@10", "R@100", "R@1000"}
    files = {path.name for path in result.output_dir.iterdir()}
    assert {"cocondenser", "condenser", "beir", "evaluation"} <= files
    # The numbers are condenser-evaluate's: its results.json for every variant and split, on the BEIR folders written.
    for split, variants in result.results.items():
        data = load_beir_folder(result.output_dir / "beir" / split)
        assert len(data.query_ids) == result.num_pairs[split]
        for variant, metrics in variants.items():
            saved = json.loads((result.output_dir / "evaluation" / variant / split / "results.json").read_text())
            assert saved["metrics"] == metrics
            assert saved["settings"]["query_max_length"] == saved["settings"]["passage_max_length"] == 128
    for image in ("retrieval.png", "retrieval_held_out.png", "loss_curves.png"):
        assert (result.output_dir / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
    assert CondenserForPreTraining.from_pretrained(result.output_dir / "cocondenser").config.skip_from == 3
    # results.json holds exactly the returned metrics, and the printed table shows them.
    assert json.loads((result.output_dir / "results.json").read_text()) == result.results
    capsys.readouterr()
    demo._print_demo(result)
    printed = capsys.readouterr().out
    for variants in result.results.values():
        for variant, metrics in variants.items():
            assert f"{variant:<12}" + "".join(f"{metrics[name]:>9.3f}" for name in metrics) in printed


def test_cli_passes_its_options_to_the_full_demo(tmp_path: Path):
    with mock.patch.object(demo, "run_demo", side_effect=RuntimeError("stop here")) as run_demo:
        with pytest.raises(RuntimeError, match="stop here"):
            demo.main(["--output_dir", str(tmp_path / "d"), "--learning_rate", "5e-5", "--no_condenser"])
    run_demo.assert_called_once_with(
        str(tmp_path / "d"), steps=100, batch_size=16, learning_rate=5e-5, num_queries=None, seed=0, condenser=False
    )


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"batch_size": 0}, {"warmup_ratio": 1.0}])
def test_full_demo_rejects_bad_arguments_before_loading_anything(tmp_path: Path, kwargs: dict):
    with mock.patch.object(demo, "_demo_base_model", side_effect=AssertionError("loaded")):
        with pytest.raises(ValueError, match="must be at least 1|warmup_ratio"):
            demo.run_demo(tmp_path / "d", **kwargs)
    assert not (tmp_path / "d").exists()


def test_cli_reports_bad_arguments_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as stop:
        demo.main(["--output_dir", str(tmp_path / "d"), "--steps", "0"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("condenser-demo: error: `steps` (0)") and "Traceback" not in err
    assert not (tmp_path / "d").exists()
