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
"""Run in an environment holding only the core install (`pip install transformers-condenser`, no extras):

- none of the optional dependencies is installed (the core requirements do not pull them in);
- a Condenser checkpoint saves, loads with `AutoModel` / `AutoModelForPreTraining` and runs, and so does a training
  step of `CondenserForPreTraining` (plain PyTorch, no Trainer);
- a tool that needs an extra says which `pip install "transformers-condenser[...]"` to run.

`make test-lean` builds that environment and runs this script; exit status 0 when everything holds.
"""

import importlib.util
import os
import subprocess
import sys
import tempfile


OPTIONAL = ("datasets", "pyarrow", "pandas", "matplotlib", "accelerate", "ir_measures", "sentencex", "faiss")


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    installed = [name for name in OPTIONAL if importlib.util.find_spec(name) is not None]
    if installed:
        print(f"FAIL: the core install pulled in optional dependencies: {', '.join(installed)}")
        return 1

    import torch
    from transformers import AutoModel, AutoModelForPreTraining

    import transformers_condenser
    from transformers_condenser import CondenserConfig, CondenserForPreTraining

    config = CondenserConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, skip_from=2
    )
    torch.manual_seed(0)
    model = CondenserForPreTraining(config)
    input_ids = torch.randint(5, 99, (4, 10))
    labels = torch.full_like(input_ids, -100)
    labels[:, 3] = input_ids[:, 3]
    model(input_ids, labels=labels).loss.backward()
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        backbone = AutoModel.from_pretrained(folder).eval()
        full = AutoModelForPreTraining.from_pretrained(folder).eval()
        with torch.no_grad():
            embeddings = backbone(input_ids).pooler_output
            expected = full.bert(input_ids).pooler_output
    if not torch.equal(embeddings, expected):
        print("FAIL: AutoModel and AutoModelForPreTraining disagree on the CLS embeddings of one checkpoint")
        return 1

    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "condenser-prepare"), "--help"],
        capture_output=True,
        text=True,
    )
    message = result.stdout + result.stderr
    if result.returncode == 0 or 'pip install "transformers-condenser[pretraining]"' not in message:
        print(f"FAIL: condenser-prepare without the pretraining extra did not name it:\n{message}")
        return 1
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "condenser-evaluate")]
        + ["--model_name_or_path", "any", "--data_dir", "any", "--output_dir", tempfile.mkdtemp()],
        capture_output=True,
        text=True,
    )
    message = result.stdout + result.stderr
    if result.returncode != 1 or 'pip install "transformers-condenser[evaluation]"' not in message:
        print(f"FAIL: condenser-evaluate without the evaluation extra did not name it:\n{message}")
        return 1
    print(
        f"check_lean_install: transformers-condenser {transformers_condenser.__version__} core install: no optional "
        "dependency installed; save, AutoModel / AutoModelForPreTraining load, forward and backward work; "
        "condenser-prepare and condenser-evaluate name their extras."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
