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
"""The original release's layout is refused by the pre-training model (SPEC §6, the original code's worst bug).

A folder or Hub id holding a BERT checkpoint (`model_type: "bert"`) plus the trained head in `model.pt`
(`Luyu/condenser`, `Luyu/co-condenser-marco`, ...), or a RoBERTa / XLM-RoBERTa checkpoint saved the same way by the
original code's RoBERTa runs, must not load into `CondenserForPreTraining` with a random head:
`from_pretrained` raises a `ValueError` pointing at `condenser-convert-original`, unless `ignore_original_head=True`.
`CondenserModel` (backbone only) loads it silently, and a BERT checkpoint without `model.pt` still warm-starts. The
check only tests that `model.pt` exists: every `model.pt` here is a booby-trapped pickle whose unpickling would create
a marker file, and the marker must never appear.
"""

import os
import pickle
import shutil
from pathlib import Path
from unittest import mock


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from huggingface_hub.file_download import repo_folder_name
from transformers import BertForMaskedLM, RobertaConfig, RobertaForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

from tests.models.condenser.testing_utils import tiny_bert_config, tiny_model
from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserModel


REPO_ID = "Luyu/tiny-condenser"
REVISION = "0123456789abcdef0123456789abcdef01234567"
PRETRAINING_CLASSES = [CondenserForPreTraining]
# Deeper than the default `skip_from` (6), so that the checkpoints load without a `skip_from` argument.
RELEASE_LAYERS = {"num_hidden_layers": 8}


class _Trap:
    """Unpickling this object opens (creates) `path`: proof that `model.pt` was read."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A BERT folder in the original release's layout (booby-trapped `model.pt`), and the same without `model.pt`."""
    root = tmp_path_factory.mktemp("original_release")
    torch.manual_seed(0)
    bert = BertForMaskedLM(tiny_bert_config(**RELEASE_LAYERS)).eval()
    plain = root / "plain_bert"
    bert.save_pretrained(plain)
    original = root / "original"
    shutil.copytree(plain, original)
    marker = root / "model_pt_was_unpickled"
    (original / "model.pt").write_bytes(pickle.dumps({"c_head.0.output.dense.weight": _Trap(marker)}))
    return {"root": root, "bert": bert, "plain": plain, "original": original, "marker": marker}


@pytest.fixture(autouse=True)
def model_pt_is_never_unpickled(release: dict):
    yield
    assert not release["marker"].exists(), "model.pt was unpickled"


def place_in_hub_cache(checkpoint_dir: Path, cache_dir: Path) -> Path:
    """Lay `checkpoint_dir` out as huggingface_hub caches a download of `REPO_ID` at `REVISION` (refs/main)."""
    repo_folder = cache_dir / repo_folder_name(repo_id=REPO_ID, repo_type="model")
    snapshot = repo_folder / "snapshots" / REVISION
    shutil.copytree(checkpoint_dir, snapshot)
    (repo_folder / "refs").mkdir(parents=True)
    (repo_folder / "refs" / "main").write_text(REVISION)
    return snapshot


def test_the_trap_fires_when_unpickled(tmp_path: Path):
    # The marker check below is meaningful only if reading the file would really create it.
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_Trap(marker)))
    assert marker.exists()


@pytest.mark.parametrize("model_class", PRETRAINING_CLASSES, ids=lambda c: c.__name__)
def test_local_original_layout_is_refused(release: dict, model_class: type):
    with pytest.raises(ValueError, match="condenser-convert-original") as raised:
        model_class.from_pretrained(release["original"])
    message = str(raised.value)
    assert "model.pt" in message and "ignore_original_head=True" in message
    assert f"--input_dir {release['original']}" in message
    assert "convert_original_checkpoint" in message


@pytest.mark.parametrize("model_class", PRETRAINING_CLASSES, ids=lambda c: c.__name__)
def test_ignore_original_head_loads_the_backbone_with_a_new_head(release: dict, model_class: type):
    model, info = model_class.from_pretrained(release["original"], ignore_original_head=True, output_loading_info=True)
    assert type(model) is model_class and isinstance(model.config, CondenserConfig)
    head_keys = {key for key in model.state_dict() if key.startswith("head_layers.")}
    assert head_keys and head_keys <= set(info["missing_keys"])
    assert not any(key.startswith(("bert.", "cls.")) for key in info["missing_keys"])
    bert_state = release["bert"].state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("bert.encoder.") or key.startswith("bert.embeddings."):
            torch.testing.assert_close(value, bert_state[key], rtol=0, atol=0, msg=key)


def test_backbone_loads_the_original_layout_silently(release: dict):
    model = CondenserModel.from_pretrained(release["original"])
    bert_state = release["bert"].state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, bert_state[f"bert.{key}"], rtol=0, atol=0, msg=key)


def test_bert_without_model_pt_still_warm_starts(release: dict):
    model, info = CondenserForPreTraining.from_pretrained(release["plain"], output_loading_info=True)
    assert {key for key in model.state_dict() if key.startswith("head_layers.")} <= set(info["missing_keys"])
    # ... and the backbone and MLM head are the BERT's.
    bert_state = release["bert"].state_dict()
    for key, value in model.state_dict().items():
        if not key.startswith("head_layers."):
            torch.testing.assert_close(value, bert_state[key], rtol=0, atol=0, msg=key)


def test_condenser_checkpoint_with_a_stray_model_pt_loads(release: dict, tmp_path: Path):
    # Only a BERT checkpoint next to model.pt is the original layout; a Condenser checkpoint holds its own head.
    model = tiny_model(CondenserForPreTraining, **RELEASE_LAYERS)
    model.save_pretrained(tmp_path)
    shutil.copy(release["original"] / "model.pt", tmp_path / "model.pt")
    loaded, info = CondenserForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"]
    saved = model.state_dict()
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, saved[key], rtol=0, atol=0, msg=key)


def test_hub_id_of_the_original_layout_is_refused_from_the_cache(release: dict, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    place_in_hub_cache(release["original"], cache_dir)
    with pytest.raises(ValueError, match="condenser-convert-original") as raised:
        CondenserForPreTraining.from_pretrained(REPO_ID, cache_dir=cache_dir)
    assert f"<a local download of {REPO_ID}>" in str(raised.value)
    with pytest.raises(ValueError, match="condenser-convert-original"):
        CondenserForPreTraining.from_pretrained(REPO_ID, cache_dir=cache_dir, revision=REVISION, cocondenser=True)
    # The backbone alone, or a deliberate fresh head, still load from the cache.
    CondenserModel.from_pretrained(REPO_ID, cache_dir=cache_dir)
    _, info = CondenserForPreTraining.from_pretrained(
        REPO_ID, cache_dir=cache_dir, ignore_original_head=True, output_loading_info=True
    )
    assert any(key.startswith("head_layers.") for key in info["missing_keys"])


def test_hub_id_is_checked_on_the_hub_when_online(release: dict, tmp_path: Path):
    # model.pt is not in the cache (the download skipped it), but the Hub says the repository holds one.
    cache_dir = tmp_path / "cache"
    place_in_hub_cache(release["plain"], cache_dir)
    with (
        mock.patch("huggingface_hub.is_offline_mode", return_value=False),
        mock.patch("huggingface_hub.file_exists", return_value=True) as file_exists,
        pytest.raises(ValueError, match="condenser-convert-original"),
    ):
        CondenserForPreTraining.from_pretrained(REPO_ID, cache_dir=cache_dir)
    assert file_exists.call_args.args[:2] == (REPO_ID, "model.pt")


def test_a_network_error_of_the_hub_check_does_not_break_loading(release: dict, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    place_in_hub_cache(release["plain"], cache_dir)
    with (
        mock.patch("huggingface_hub.is_offline_mode", return_value=False),
        mock.patch("huggingface_hub.file_exists", side_effect=ConnectionError("no network")) as file_exists,
    ):
        model = CondenserForPreTraining.from_pretrained(REPO_ID, cache_dir=cache_dir)
    file_exists.assert_called_once()
    assert type(model) is CondenserForPreTraining


def test_no_hub_request_when_offline(release: dict, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    place_in_hub_cache(release["plain"], cache_dir)
    with mock.patch("huggingface_hub.file_exists", side_effect=AssertionError("Hub queried offline")) as file_exists:
        CondenserForPreTraining.from_pretrained(REPO_ID, cache_dir=cache_dir, local_files_only=True)
    file_exists.assert_not_called()


@pytest.mark.parametrize(
    ("config_class", "masked_lm_class", "family"),
    [(RobertaConfig, RobertaForMaskedLM, "RoBERTa"), (XLMRobertaConfig, XLMRobertaForMaskedLM, "XLM-RoBERTa")],
    ids=["roberta", "xlm-roberta"],
)
def test_roberta_family_original_layout_is_refused(tmp_path: Path, config_class, masked_lm_class, family: str):
    # The original code saved its RoBERTa runs the same way (SPEC §8): the masked LM's folder plus model.pt.
    config = config_class(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=8,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=66,
        pad_token_id=1,
        type_vocab_size=1,
    )
    torch.manual_seed(0)
    masked_lm = masked_lm_class(config).eval()
    original = tmp_path / "original"
    masked_lm.save_pretrained(original)
    marker = tmp_path / "model_pt_was_unpickled"
    (original / "model.pt").write_bytes(pickle.dumps({"c_head.0.output.dense.weight": _Trap(marker)}))

    with pytest.raises(ValueError, match="condenser-convert-original") as raised:
        CondenserForPreTraining.from_pretrained(original)
    message = str(raised.value)
    assert f'a model of the {family} family (model_type "{config.model_type}")' in message
    assert f"--input_dir {original}" in message and "ignore_original_head=True" in message
    # The backbone alone, or a deliberate fresh head, still load; the backbone is the checkpoint's.
    model, info = CondenserForPreTraining.from_pretrained(
        original, ignore_original_head=True, output_loading_info=True
    )
    assert model.config.backbone_type == config.model_type
    assert {key for key in model.state_dict() if key.startswith("head_layers.")} == set(info["missing_keys"])
    backbone = CondenserModel.from_pretrained(original)
    expected = masked_lm.roberta.state_dict()
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)
    assert not marker.exists(), "model.pt was unpickled"
