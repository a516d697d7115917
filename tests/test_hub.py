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
"""Loading by Hub id (offline, from a Hugging Face cache layout), with the plugin and with `trust_remote_code=True`
where the plugin cannot be imported, and `push_to_hub` (Hub calls mocked) uploading a Condenser model card.

Hub ids are resolved by huggingface_hub from the cache directory it reads at import time, so the loads by Hub id
through `HF_HOME` run in subprocesses; the in-process test passes `cache_dir=` instead.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.errors import EntryNotFoundError
from huggingface_hub.file_download import repo_folder_name
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, AutoTokenizer, PreTrainedTokenizerFast
from transformers.utils import hub as transformers_hub

from tests.models.condenser.testing_utils import TINY_VOCAB, save_tiny_checkpoint, tiny_model, tiny_tokenizer
from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserModel


REPO_ID = "org/condenser-bert"
REVISION = "4f1c9a0b2d3e5f60718293a4b5c6d7e8f9012345"
TEXTS = ["the model reads the text", "a dense vector for every passage", "retrieval"]


def place_in_hub_cache(
    checkpoint_dir: Path, hub_cache: Path, repo_id: str = REPO_ID, revision: str = REVISION
) -> Path:
    """Lay `checkpoint_dir` out as huggingface_hub caches a download of `repo_id`: the files under
    `models--{org}--{name}/snapshots/{revision}/` and `refs/main` holding the revision. Returns the snapshot folder.

    (A real download stores the files in `blobs/` and links them from the snapshot; plain copies resolve the same.)
    """
    repo_folder = hub_cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    snapshot = repo_folder / "snapshots" / revision
    shutil.copytree(checkpoint_dir, snapshot)
    (repo_folder / "refs").mkdir(parents=True)
    (repo_folder / "refs" / "main").write_text(revision)
    return snapshot


def reference_batch(tokenizer: PreTrainedTokenizerFast) -> dict[str, torch.Tensor]:
    """`TEXTS` tokenized with padding, plus a masked copy of the input ids and the MLM labels of the masked tokens."""
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    masked_input_ids = batch["input_ids"].clone()
    for row, column in [(0, 2), (1, 3), (2, 1)]:
        labels[row, column] = batch["input_ids"][row, column]
        masked_input_ids[row, column] = tokenizer.mask_token_id
    return {**batch, "masked_input_ids": masked_input_ids, "labels": labels}


def reference_outputs(model: CondenserForPreTraining, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The CLS embeddings of the backbone and the pre-training loss on the labelled batch."""
    with torch.no_grad():
        pooler_output = model.bert(batch["input_ids"], attention_mask=batch["attention_mask"]).pooler_output
        loss = model(batch["masked_input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    return {"pooler_output": pooler_output, "loss": loss}


# Runs in a fresh interpreter with HF_HOME and HF_HUB_OFFLINE=1 set. argv: mode ("plugin" or "remote"), the
# safetensors file of the batch, the local checkpoint directory, the output directory, `TEXTS` as JSON.
WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    mode, batch_file, checkpoint_dir, out_dir, texts = sys.argv[1:]
    if mode == "remote":
        # Make the plugin unimportable, as on a machine where it is not installed.
        sys.modules["transformers_condenser"] = None
        try:
            import transformers_condenser  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("transformers_condenser is importable in the remote-code worker")
    else:
        import transformers_condenser  # noqa: F401

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, AutoTokenizer

    batch = load_file(batch_file)
    remote = {"trust_remote_code": True} if mode == "remote" else {}
    sources = {"hub": "org/condenser-bert", "local": checkpoint_dir} if mode == "remote" else {"hub": "org/condenser-bert"}
    classes, tensors = {}, {}
    for name, source in sources.items():
        config = AutoConfig.from_pretrained(source, **remote)
        backbone = AutoModel.from_pretrained(source, **remote).eval()
        full = AutoModelForPreTraining.from_pretrained(source, **remote).eval()
        tokenizer = AutoTokenizer.from_pretrained(source)
        classes[name] = {kind: f"{type(obj).__module__}.{type(obj).__name__}"
                         for kind, obj in [("config", config), ("model", backbone), ("pretraining", full)]}
        encoded = tokenizer(json.loads(texts), padding=True, return_tensors="pt")
        tensors[f"{name}.input_ids"] = encoded["input_ids"]
        with torch.no_grad():
            tensors[f"{name}.pooler_output"] = backbone(batch["input_ids"], attention_mask=batch["attention_mask"]).pooler_output
            tensors[f"{name}.loss"] = full(batch["masked_input_ids"], attention_mask=batch["attention_mask"],
                                           labels=batch["labels"]).loss
        for key, value in full.state_dict().items():
            tensors[f"{name}.state.{key}"] = value.clone().contiguous()
    leaked = sorted(m for m, v in sys.modules.items() if m.startswith("transformers_condenser") and v is not None)
    save_file({k: v.contiguous() for k, v in tensors.items()}, f"{out_dir}/outputs.safetensors")
    Path(out_dir, "classes.json").write_text(json.dumps({"classes": classes, "leaked": leaked}))
    """
)


@pytest.fixture(scope="module")
def hub_setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A saved tiny checkpoint, its reference outputs, and an HF_HOME whose hub cache holds it as `REPO_ID`."""
    root = tmp_path_factory.mktemp("hub")
    checkpoint_dir = root / "checkpoint"
    model = save_tiny_checkpoint(checkpoint_dir)
    batch = reference_batch(tiny_tokenizer())
    save_file({key: value.contiguous() for key, value in batch.items()}, root / "batch.safetensors")
    hf_home = root / "hf_home"
    place_in_hub_cache(checkpoint_dir, hf_home / "hub")
    state = {key: value.clone() for key, value in model.state_dict().items()}
    return {
        "root": root,
        "checkpoint_dir": checkpoint_dir,
        "hf_home": hf_home,
        "batch": batch,
        "reference": reference_outputs(model, batch),
        "state": state,
    }


def run_worker(hub_setup: dict, mode: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Run `WORKER` in a subprocess offline with the fixture's HF_HOME; return its class names and tensors."""
    out_dir = hub_setup["root"] / f"out-{mode}"
    out_dir.mkdir()
    env = dict(os.environ, HF_HOME=str(hub_setup["hf_home"]), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_MODULES_CACHE", "TRANSFORMERS_CACHE"):
        env.pop(variable, None)
    result = subprocess.run(
        [sys.executable, "-c", WORKER, mode, str(hub_setup["root"] / "batch.safetensors"),
         str(hub_setup["checkpoint_dir"]), str(out_dir), json.dumps(TEXTS)],
        capture_output=True, text=True, env=env, cwd=hub_setup["root"], timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((out_dir / "classes.json").read_text()), load_file(out_dir / "outputs.safetensors")


def assert_same_as_reference(hub_setup: dict, tensors: dict[str, torch.Tensor], name: str) -> None:
    """The outputs the worker computed from source `name` equal the original model's, and so do all its weights."""
    reference = hub_setup["reference"]
    torch.testing.assert_close(tensors[f"{name}.input_ids"], hub_setup["batch"]["input_ids"], rtol=0, atol=0)
    torch.testing.assert_close(tensors[f"{name}.pooler_output"], reference["pooler_output"], rtol=0, atol=0)
    torch.testing.assert_close(tensors[f"{name}.loss"], reference["loss"], rtol=0, atol=0)
    loaded_state = {
        key.removeprefix(f"{name}.state."): v for key, v in tensors.items() if key.startswith(f"{name}.state.")
    }
    assert loaded_state.keys() == hub_setup["state"].keys()
    for key, value in hub_setup["state"].items():
        torch.testing.assert_close(loaded_state[key], value, rtol=0, atol=0, msg=key)


def test_hub_id_loads_with_the_plugin_from_an_offline_cache(hub_setup: dict):
    classes, tensors = run_worker(hub_setup, "plugin")
    assert classes["classes"]["hub"] == {
        "config": "transformers_condenser.configuration_condenser.CondenserConfig",
        "model": "transformers_condenser.modeling_condenser.CondenserModel",
        "pretraining": "transformers_condenser.modeling_condenser.CondenserForPreTraining",
    }
    assert_same_as_reference(hub_setup, tensors, "hub")


def test_trust_remote_code_loads_without_the_plugin(hub_setup: dict):
    classes, tensors = run_worker(hub_setup, "remote")
    assert classes["leaked"] == []
    for name in ("hub", "local"):
        loaded = classes["classes"][name]
        # The classes come from the code files saved in the checkpoint, not from an installed package.
        assert all(module.startswith("transformers_modules.") for module in loaded.values()), loaded
        assert [module.rsplit(".", 1)[1] for module in loaded.values()] == [
            "CondenserConfig",
            "CondenserModel",
            "CondenserForPreTraining",
        ]
        assert_same_as_reference(hub_setup, tensors, name)


def test_hub_id_loads_in_process_with_cache_dir(hub_setup: dict, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    place_in_hub_cache(hub_setup["checkpoint_dir"], cache_dir)
    backbone = AutoModel.from_pretrained(REPO_ID, cache_dir=cache_dir).eval()
    full = AutoModelForPreTraining.from_pretrained(REPO_ID, cache_dir=cache_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(REPO_ID, cache_dir=cache_dir)
    assert type(backbone) is CondenserModel and type(full) is CondenserForPreTraining

    batch, reference = hub_setup["batch"], hub_setup["reference"]
    assert torch.equal(tokenizer(TEXTS, padding=True, return_tensors="pt")["input_ids"], batch["input_ids"])
    with torch.no_grad():
        pooler_output = backbone(batch["input_ids"], attention_mask=batch["attention_mask"]).pooler_output
    torch.testing.assert_close(pooler_output, reference["pooler_output"], rtol=0, atol=0)
    torch.testing.assert_close(reference_outputs(full, batch)["loss"], reference["loss"], rtol=0, atol=0)
    for key, value in full.state_dict().items():
        if key.startswith("head_layers."):
            torch.testing.assert_close(value, hub_setup["state"][key], rtol=0, atol=0, msg=key)


def test_unknown_revision_is_not_silently_served_from_the_cache(hub_setup: dict, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    place_in_hub_cache(hub_setup["checkpoint_dir"], cache_dir)
    with pytest.raises(OSError):
        AutoModel.from_pretrained(REPO_ID, cache_dir=cache_dir, revision="0" * 40)


def test_plugin_classes_are_used_and_no_remote_code_runs(hub_setup: dict):
    checkpoint_dir = hub_setup["checkpoint_dir"]
    assert json.loads((checkpoint_dir / "config.json").read_text())["auto_map"]["AutoModel"] == (
        "modeling_condenser.CondenserModel"
    )
    refuse = mock.Mock(side_effect=AssertionError("remote code was loaded"))
    with (
        mock.patch("transformers.models.auto.auto_factory.get_class_from_dynamic_module", refuse),
        mock.patch("transformers.models.auto.configuration_auto.get_class_from_dynamic_module", refuse),
        mock.patch("builtins.input", mock.Mock(side_effect=AssertionError("the user was prompted"))),
    ):
        config = AutoConfig.from_pretrained(checkpoint_dir)
        backbone = AutoModel.from_pretrained(checkpoint_dir)
        full = AutoModelForPreTraining.from_pretrained(checkpoint_dir)
        # The registered plugin classes take precedence over the checkpoint's code even when remote code is allowed.
        trusted = AutoModel.from_pretrained(checkpoint_dir, trust_remote_code=True)
    assert (type(config), type(backbone), type(full)) == (CondenserConfig, CondenserModel, CondenserForPreTraining)
    assert type(trusted) is CondenserModel
    refuse.assert_not_called()


class FakeHubApi:
    """Stands in for transformers' `HfApi`: records the files of every commit instead of uploading them."""

    def __init__(self) -> None:
        self.commits: list[dict[str, bytes]] = []

    def create_repo(self, repo_id: str, **kwargs) -> mock.Mock:
        return mock.Mock(repo_id=repo_id)

    def create_branch(self, **kwargs) -> None:
        pass

    def create_commit(self, repo_id: str, operations: list, **kwargs) -> str:
        # The files live in a temporary directory that is gone once the push returns: read them now.
        self.commits.append({op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in operations})
        return f"https://huggingface.co/{repo_id}/commit/{REVISION}"


@pytest.fixture
def fake_hub():
    """Patch the Hub calls of `push_to_hub` / `save_pretrained(push_to_hub=True)`; `remote_card` is the repo's card."""
    api = FakeHubApi()
    api.remote_card = None
    original_load = ModelCard.load.__func__

    def load(cls, repo_id_or_path, *args, **kwargs):
        if Path(repo_id_or_path).is_file():
            return original_load(cls, repo_id_or_path, *args, **kwargs)
        if api.remote_card is None:
            raise EntryNotFoundError("README.md not found in the repository")
        return ModelCard(api.remote_card)

    with (
        mock.patch.object(transformers_hub, "hf_api", return_value=api),
        mock.patch("transformers.modeling_utils.hf_api", return_value=api),
        mock.patch.object(ModelCard, "load", classmethod(load)),
    ):
        yield api


@pytest.fixture(scope="module")
def pretraining_model() -> CondenserForPreTraining:
    return tiny_model(CondenserForPreTraining, vocab_size=len(TINY_VOCAB))


def test_push_to_hub_uploads_a_condenser_model_card(fake_hub: FakeHubApi, pretraining_model: CondenserForPreTraining):
    pretraining_model.push_to_hub(
        REPO_ID,
        tags=["my-tag"],
        model_card_kwargs={"base_model": "google-bert/bert-base-uncased", "datasets": ["org/corpus"]},
    )
    (files,) = fake_hub.commits
    assert {"README.md", "config.json", "configuration_condenser.py", "modeling_condenser.py"} <= files.keys()
    assert "model.safetensors" in files
    assert json.loads(files["config.json"])["auto_map"]["AutoModelForPreTraining"] == (
        "modeling_condenser.CondenserForPreTraining"
    )
    card = ModelCard(files["README.md"].decode())
    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "feature-extraction"
    assert {"condenser", "dense-retrieval", "my-tag"} <= set(card.data.tags)
    assert card.data.base_model == "google-bert/bert-base-uncased"
    assert card.data.datasets == ["org/corpus"]
    assert f'AutoModel.from_pretrained("{REPO_ID}")' in card.text
    assert "automatically generated" not in card.text
    assert not hasattr(pretraining_model, "_model_card_kwargs")


def test_push_to_hub_keeps_the_repository_card(fake_hub: FakeHubApi, pretraining_model: CondenserForPreTraining):
    fake_hub.remote_card = "---\nlicense: mit\n---\n\n# A card written by hand\n"
    pretraining_model.push_to_hub(REPO_ID)
    card = ModelCard(fake_hub.commits[0]["README.md"].decode())
    assert card.data.license == "mit"
    assert "A card written by hand" in card.text and "Published results" not in card.text


def test_save_pretrained_with_push_to_hub_uploads_the_card(
    fake_hub: FakeHubApi, pretraining_model: CondenserForPreTraining, tmp_path: Path
):
    pretraining_model.save_pretrained(tmp_path / "out", push_to_hub=True, repo_id=REPO_ID)
    (files,) = fake_hub.commits
    assert "model.safetensors" in files
    assert "condenser" in ModelCard(files["README.md"].decode()).data.tags
    assert (tmp_path / "out" / "README.md").read_bytes() == files["README.md"]


def test_push_to_hub_keeps_the_repository_card_and_says_so(
    fake_hub: FakeHubApi, pretraining_model: CondenserForPreTraining
):
    from transformers_condenser import hub_mixin

    fake_hub.remote_card = "---\nlicense: mit\n---\n\n# A card written by hand\n"
    with mock.patch.object(hub_mixin.logger, "info") as info:
        pretraining_model.push_to_hub(REPO_ID)
    assert "A card written by hand" in fake_hub.commits[0]["README.md"].decode()
    assert any(
        "Kept the model card" in call.args[0] and "model_card_kwargs" in call.args[0] for call in info.call_args_list
    )


def test_push_to_hub_with_model_card_kwargs_replaces_the_repository_card(
    fake_hub: FakeHubApi, pretraining_model: CondenserForPreTraining
):
    fake_hub.remote_card = "---\nlicense: mit\ntags:\n- hand-tag\n---\n\n# A card written by hand\n"
    pretraining_model.push_to_hub(REPO_ID, model_card_kwargs={"base_model": "google-bert/bert-base-uncased"})
    card = ModelCard(fake_hub.commits[0]["README.md"].decode())
    assert "A card written by hand" not in card.text
    assert f'AutoModel.from_pretrained("{REPO_ID}")' in card.text
    assert card.data.base_model == "google-bert/bert-base-uncased"
    # The repository's tags are kept on the new card.
    assert {"condenser", "hand-tag"} <= set(card.data.tags)
    assert not hasattr(pretraining_model, "_model_card_kwargs")


def test_push_to_hub_with_empty_model_card_kwargs_replaces_the_repository_card(
    fake_hub: FakeHubApi, pretraining_model: CondenserForPreTraining
):
    fake_hub.remote_card = "---\nlicense: mit\n---\n\n# A card written by hand\n"
    pretraining_model.push_to_hub(REPO_ID, model_card_kwargs={})
    card = ModelCard(fake_hub.commits[0]["README.md"].decode())
    assert "A card written by hand" not in card.text and "condenser" in card.data.tags
