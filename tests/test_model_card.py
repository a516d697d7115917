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
"""Tests of `write_model_card` and `condenser-model-card`: the Hub parses the card, its metadata round-trips, it
describes the checkpoint's backbone family (BERT, RoBERTa), its usage snippets run offline against the checkpoint (the
`trust_remote_code` one where the package cannot be imported), and bad inputs fail with a clear message."""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from unittest import mock

import pytest
from huggingface_hub import EvalResult, ModelCard
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserModel
from transformers_condenser.model_card import main, write_model_card

from .models.condenser.testing_utils import FOUR_LAYER_FIELDS, save_tiny_checkpoint, tiny_model
from .test_hub import REPO_ID, place_in_hub_cache


EVAL_RESULTS = [
    EvalResult(
        task_type="text-retrieval",
        dataset_type="org/docstrings",
        dataset_name="Docstrings",
        dataset_split="test",
        metric_type="mrr_at_10",
        metric_name="MRR@10",
        metric_value=0.522,
    ),
    EvalResult(
        task_type="text-retrieval",
        dataset_type="org/docstrings",
        dataset_name="Docstrings",
        dataset_split="test",
        metric_type="recall_at_100",
        metric_value=0.91,
    ),
]


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny saved `CondenserForPreTraining` with its tokenizer."""
    directory = tmp_path_factory.mktemp("card") / "condenser-bert"
    save_tiny_checkpoint(directory, **FOUR_LAYER_FIELDS)
    return directory


def byte_level_tokenizer() -> PreTrainedTokenizerFast:
    """A RoBERTa-style tokenizer: byte-level BPE without merges (one token per byte), RoBERTa's special tokens at ids
    0 to 4, `<s> ... </s>`. It sets no `model_max_length`, so only an explicit `max_length` truncates."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    vocab = {token: index for index, token in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )  # fmt: skip


@pytest.fixture(scope="module")
def roberta_checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny saved `CondenserForPreTraining` with a RoBERTa backbone (66 positions: 64 tokens) and its tokenizer."""
    directory = tmp_path_factory.mktemp("card") / "condenser-roberta"
    tokenizer = byte_level_tokenizer()
    config = CondenserConfig(
        backbone_type="roberta", pad_token_id=1, vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4,
        num_attention_heads=4, intermediate_size=37, max_position_embeddings=66, type_vocab_size=1, skip_from=2,
    )  # fmt: skip
    CondenserForPreTraining(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture
def fresh_checkpoint(checkpoint_dir: Path, tmp_path: Path) -> Path:
    """A copy of the checkpoint that a test may write its card into."""
    return Path(shutil.copytree(checkpoint_dir, tmp_path / "condenser-bert"))


def test_card_metadata_round_trips_through_huggingface_hub(fresh_checkpoint: Path):
    readme = write_model_card(
        fresh_checkpoint,
        repo_id=REPO_ID,
        model_name="condenser-bert-docstrings",
        base_model="google-bert/bert-base-uncased",
        license="mit",
        datasets=["org/wiki", "org/books"],
        language="en",
        cocondenser=True,
        tags=["my-tag"],
        eval_results=EVAL_RESULTS,
    )
    assert readme == fresh_checkpoint.resolve() / "README.md"
    card = ModelCard.load(readme)
    data = card.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "feature-extraction"
    assert data.tags == ["condenser", "cocondenser", "dense-retrieval", "bert", "my-tag"]
    assert data.base_model == "google-bert/bert-base-uncased"
    assert data.license == "mit"
    assert data.datasets == ["org/wiki", "org/books"]
    assert data.language == "en"
    assert data.model_name == "condenser-bert-docstrings"
    assert data.eval_results == EVAL_RESULTS
    model_index = data.to_dict()["model-index"]
    assert model_index[0]["name"] == "condenser-bert-docstrings"
    assert model_index[0]["results"][0]["metrics"][0] == {"type": "mrr_at_10", "value": 0.522, "name": "MRR@10"}
    # The checkpoint's own results are also shown as a table.
    assert "| Docstrings | test | MRR@10 | 0.522 |" in card.text


def test_card_describes_the_checkpoint_from_its_config(fresh_checkpoint: Path):
    card = ModelCard.load(write_model_card(fresh_checkpoint))
    text = card.text
    assert "# condenser-bert" in text
    assert "4 layers, hidden size 32, 4 attention heads" in text
    assert "hidden state 2 (`skip_from`" in text and "2 Transformer layer(s)" in text
    assert "A BERT encoder pre-trained" in text and 'BERT encoder (`backbone_type: "bert"`)' in text
    # BERT uses every position embedding: the card's length is `max_position_embeddings` (64 in the tiny config).
    assert "last-layer `[CLS]` vector (no pooler weights" in text and "inputs of up to 64 tokens" in text
    assert "plus the ordinary masked-LM loss on the last layer (`late_mlm`)" in text
    assert "`AutoModelForPreTraining` loads it" in text
    # No evaluation results: no model-index, and the default tags say nothing of coCondenser.
    assert "model-index" not in card.content.split("---")[1]
    assert card.data.tags == ["condenser", "dense-retrieval", "bert"]
    assert card.data.license == "apache-2.0" and card.data.language == "en"

    # Another shape (3 layers, hidden 16, a 1-layer head) and no late MLM loss: the card follows the config.
    backbone = tiny_model(CondenserModel, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, late_mlm=False)
    backbone_dir = fresh_checkpoint.parent / "backbone"
    backbone.save_pretrained(backbone_dir)
    text = ModelCard.load(write_model_card(backbone_dir)).text
    assert "3 layers, hidden size 16" in text and "1 Transformer layer(s)" in text
    assert "masked-LM loss of the head only" in text
    assert "`AutoModelForPreTraining` loads it" not in text


def test_card_holds_usage_published_results_and_citations(fresh_checkpoint: Path):
    text = ModelCard.load(write_model_card(fresh_checkpoint, repo_id=REPO_ID)).text
    assert "pip install transformers-condenser" in text
    assert "import transformers_condenser" in text
    assert f'AutoModel.from_pretrained("{REPO_ID}").eval()' in text
    assert f'AutoModel.from_pretrained("{REPO_ID}", trust_remote_code=True)' in text
    assert ".pooler_output" in text
    published = text.split("## Published results", 1)[1]
    assert "not measurements of this checkpoint" in published
    assert "| coCondenser (+ hard negatives) | 38.2 | 98.4 | 84.3 / 89.0 | 83.2 / 87.3 |" in published
    assert "| Condenser (+ hard negatives) | 36.6 | 97.4 | 83.2 / 88.4 | 81.9 / 86.2 |" in published
    assert "@inproceedings{gao-callan-2021-condenser," in text
    assert "@inproceedings{gao-callan-2022-unsupervised," in text


def test_card_usage_snippets_run_offline_by_hub_id(checkpoint_dir: Path, roberta_checkpoint_dir: Path, tmp_path: Path):
    """Both snippets of a BERT and of a RoBERTa card, run by Hub id from an offline cache: the plugin's in one fresh
    interpreter, the `trust_remote_code` one in another where `transformers_condenser` cannot be imported."""
    hf_home = tmp_path / "hf_home"
    snippets = {"plugin": [], "remote": []}
    for checkpoint, repo_id in ((checkpoint_dir, REPO_ID), (roberta_checkpoint_dir, "org/condenser-roberta")):
        snapshot = place_in_hub_cache(checkpoint, hf_home / "hub", repo_id=repo_id)
        text = ModelCard.load(write_model_card(snapshot, repo_id=repo_id)).text
        blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
        assert len(blocks) == 2  # with the plugin, then with trust_remote_code
        # The RoBERTa checkpoint's tokenizer has no length limit and the snippet's second text is longer than its 64
        # positions in byte-level tokens: the snippet must truncate to what the positions cover.
        snippets["plugin"].append(blocks[0] + "\nassert embeddings.shape == (2, 32), embeddings.shape\n")
        snippets["remote"].append(
            blocks[1] + "\nassert embeddings.shape == (1, 32), embeddings.shape\n"
            "assert type(model).__module__.startswith('transformers_modules.'), type(model).__module__\n"
        )
    env = dict(os.environ, HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_MODULES_CACHE", "TRANSFORMERS_CACHE"):
        env.pop(variable, None)
    for mode, scripts in snippets.items():
        # Each snippet in its own namespace; "without installing the package": the remote worker cannot import it.
        worker = "import sys\n" + ("sys.modules['transformers_condenser'] = None\n" if mode == "remote" else "")
        worker += "".join(f"exec({script!r}, {{}})\n" for script in scripts) + "print('snippets ran')\n"
        result = subprocess.run(
            [sys.executable, "-c", worker],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, (mode, result.stderr[-4000:])
        assert "snippets ran" in result.stdout
        # No interactive "[y/N]" question: every load that needs the repository's code says trust_remote_code=True.
        assert "Do you wish to run the custom code" not in result.stdout + result.stderr, mode


@pytest.mark.parametrize(
    "backbone_type, article, name, base_model",
    [
        ("roberta", "a", "RoBERTa", "FacebookAI/roberta-base"),
        ("xlm-roberta", "an", "XLM-RoBERTa", "FacebookAI/xlm-roberta-base"),
    ],
)
def test_roberta_family_card_describes_the_family(
    backbone_type: str, article: str, name: str, base_model: str, roberta_checkpoint_dir: Path, tmp_path: Path
):
    checkpoint = Path(shutil.copytree(roberta_checkpoint_dir, tmp_path / f"condenser-{backbone_type}"))
    # An XLM-RoBERTa backbone has RoBERTa's layout and weight names: only the configuration says which it is.
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps(config | {"backbone_type": backbone_type}))
    card = ModelCard.load(write_model_card(checkpoint, repo_id=REPO_ID, base_model=base_model))
    # The family's model_type is the tag, as on the Hub's models of the family; no `bert` tag.
    assert card.data.tags == ["condenser", "dense-retrieval", backbone_type]
    assert card.data.base_model == base_model
    text = card.text
    assert f"{article.capitalize()} {name} encoder pre-trained for dense retrieval" in text
    assert f'Backbone: {name} encoder (`backbone_type: "{backbone_type}"`), 4 layers, hidden size 32' in text
    assert f"like any {name} encoder" in text
    # The embedding is the first token's, which RoBERTa calls `<s>`.
    assert "last-layer `<s>` vector (no pooler weights" in text and "[CLS]" not in text
    # 66 position embeddings, of which RoBERTa's tokens can use 66 - pad_token_id - 1 = 64.
    assert "inputs of up to 64 tokens" in text and "66" not in text
    assert 'truncation=True, max_length=64, return_tensors="pt"' in text
    assert "BERT encoder" not in text
    published = text.split("## Published results")[1]
    assert f"not measurements of this checkpoint, whose backbone is {name} rather than BERT." in published


def test_remote_code_snippet_trusts_the_repository_code_for_the_tokenizer_too(fresh_checkpoint: Path, tmp_path: Path):
    """Without the plugin, `AutoTokenizer` reads the repository's Condenser config.json and would prompt "[y/N]"
    (15 s) without `trust_remote_code=True`; the tokenizer of a base model needs no remote code."""
    text = ModelCard.load(write_model_card(fresh_checkpoint, repo_id=REPO_ID)).text
    remote = text.split("Without installing the package")[1]
    assert f'AutoTokenizer.from_pretrained("{REPO_ID}", trust_remote_code=True)' in remote
    assert f'AutoModel.from_pretrained("{REPO_ID}", trust_remote_code=True)' in remote
    tiny_model(CondenserModel).save_pretrained(tmp_path / "no-tokenizer")
    text = ModelCard.load(write_model_card(tmp_path / "no-tokenizer", repo_id=REPO_ID, base_model="org/bert")).text
    assert 'AutoTokenizer.from_pretrained("org/bert")' in text.split("Without installing the package")[1]


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_card_file_honours_the_umask(fresh_checkpoint: Path, umask: int):
    previous = os.umask(umask)
    try:
        readme = write_model_card(fresh_checkpoint)
    finally:
        os.umask(previous)
    assert readme.stat().st_mode & 0o777 == 0o666 & ~umask


def test_card_without_tokenizer_points_to_the_base_model_tokenizer(tmp_path: Path):
    tiny_model(CondenserModel).save_pretrained(tmp_path / "ckpt")
    text = ModelCard.load(write_model_card(tmp_path / "ckpt", repo_id=REPO_ID, base_model="org/bert")).text
    assert 'AutoTokenizer.from_pretrained("org/bert")' in text and "has no tokenizer files" in text


def test_card_is_replaced_atomically(fresh_checkpoint: Path):
    readme = fresh_checkpoint / "README.md"
    readme.write_text("previous card")
    with mock.patch("transformers_condenser.model_card.os.replace", side_effect=OSError("disk full")):
        with pytest.raises(OSError, match="disk full"):
            write_model_card(fresh_checkpoint)
    assert readme.read_text() == "previous card"
    assert not [p.name for p in fresh_checkpoint.iterdir() if p.name.startswith(".README")]
    write_model_card(fresh_checkpoint)
    assert readme.read_text().startswith("---\n")


def test_cli_writes_the_card(fresh_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    results_file = tmp_path / "results.json"
    fields = {key: value for key, value in asdict(EVAL_RESULTS[0]).items() if value is not None}
    results_file.write_text(json.dumps([fields]))
    main([
        "--checkpoint_dir", str(fresh_checkpoint), "--repo_id", REPO_ID, "--base_model", "google-bert/bert-base-uncased",
        "--dataset", "org/wiki", "--dataset", "org/books", "--language", "fr", "--license", "mit",
        "--model_name", "my-condenser", "--eval_results", str(results_file), "--cocondenser",
    ])  # fmt: skip
    assert "wrote the model card to" in capsys.readouterr().out
    data = ModelCard.load(fresh_checkpoint / "README.md").data
    assert (data.datasets, data.language, data.license, data.model_name) == (
        ["org/wiki", "org/books"], "fr", "mit", "my-condenser"
    )  # fmt: skip
    assert data.eval_results == EVAL_RESULTS[:1]
    assert "cocondenser" in data.tags


def test_errors_for_a_missing_or_non_condenser_directory(tmp_path: Path, checkpoint_dir: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_model_card(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        write_model_card(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        write_model_card(tmp_path / "empty")
    bert = Path(shutil.copytree(checkpoint_dir, tmp_path / "bert"))
    config = json.loads((bert / "config.json").read_text())
    (bert / "config.json").write_text(json.dumps(config | {"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type 'bert'"):
        write_model_card(bert)
    (tmp_path / "no-weights").mkdir()
    shutil.copy(checkpoint_dir / "config.json", tmp_path / "no-weights")
    with pytest.raises(ValueError, match="holds no weights"):
        write_model_card(tmp_path / "no-weights")
    with pytest.raises(ValueError, match="not a valid huggingface_hub EvalResult"):
        write_model_card(checkpoint_dir, eval_results=[{"metric_value": 1.0}])
    assert not (tmp_path / "empty" / "README.md").exists() and not (checkpoint_dir / "README.md").exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--checkpoint_dir", "{tmp}/missing"], "does not exist"),
        (["--checkpoint_dir", "{tmp}"], "has no config.json"),
        (["--checkpoint_dir", "{checkpoint}", "--eval_results", "{tmp}/none.json"], "Cannot read"),
    ],
)
def test_cli_exits_non_zero_with_a_clear_message(
    arguments: list[str], message: str, tmp_path: Path, checkpoint_dir: Path, capsys: pytest.CaptureFixture
):
    argv = [argument.format(tmp=tmp_path, checkpoint=checkpoint_dir) for argument in arguments]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("condenser-model-card: error:") and message in error


def test_tools_share_one_config_reader_and_error_policy(tmp_path: Path):
    """The model card writer and the converters read a checkpoint's config.json alike: a missing folder or file is an
    `OSError`, a malformed file a `ValueError` naming it."""
    from transformers_condenser import convert_original_checkpoint, export_to_bert

    tools = {
        "write_model_card": write_model_card,
        "export_to_bert": lambda folder: export_to_bert(folder, tmp_path / "out"),
        "convert_original_checkpoint": lambda folder: convert_original_checkpoint(folder, tmp_path / "out"),
    }
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "condenser",')
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "config.json").write_text("[1, 2]")
    for tool in tools.values():
        with pytest.raises(FileNotFoundError, match="does not exist"):
            tool(tmp_path / "missing")
        with pytest.raises(FileNotFoundError, match="no config.json"):
            tool(tmp_path / "empty")
        with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
            tool(tmp_path / "broken")
        with pytest.raises(ValueError, match="must hold a JSON object"):
            tool(tmp_path / "list")


def test_cocondenser_tag_follows_the_configuration_unless_given(fresh_checkpoint: Path):
    config_file = fresh_checkpoint / "config.json"
    config = json.loads(config_file.read_text())
    for saved, given, expected in ((False, None, False), (True, None, True), (True, False, False)):
        config_file.write_text(json.dumps(config | {"cocondenser": saved}))
        card = ModelCard.load(write_model_card(fresh_checkpoint, repo_id=REPO_ID, cocondenser=given))
        assert ("cocondenser" in card.data.tags) is expected, (saved, given)
