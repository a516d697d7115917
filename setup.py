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
"""Packaging for transformers-condenser.

The version ranges below are the ones CI tests (see CONTRIBUTING.md). Install torch first from the index that matches
your hardware (e.g. `pip install torch==2.13.0` for the CPU build); a bare `torch` requirement may pull a large CUDA
build.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup


HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "src" / "transformers_condenser" / "__init__.py").read_text(), re.M
).group(1)

# The core: what loading and running a checkpoint needs. safetensors and tokenizers are imported directly (weights,
# the demo's tokenizer); their floors are those of the oldest transformers above.
install_requires = [
    "torch>=2.13",
    "transformers>=5.23,<6",
    "safetensors>=0.8",
    "huggingface_hub>=1.31,<3",
    "tokenizers>=0.23.1",
]

extras = {}
# Pre-training: data preparation (Arrow datasets, sentence splitting), `Trainer` (accelerate) and its loss plots.
extras["pretraining"] = ["datasets>=5.2,<6", "sentencex>=1.0.32,<2", "accelerate>=1.15,<2", "matplotlib>=3.8"]
# Retrieval evaluation: metrics (MRR@10, Recall@k) and plots.
extras["evaluation"] = ["ir-measures>=0.4.3,<0.5", "matplotlib>=3.8"]
# `[train]`: what `SentenceTransformerTrainer` needs (datasets, accelerate), for the fine-tuning recipe.
extras["sentence-transformers"] = ["sentence-transformers[train]>=6.2,<7"]
# A faiss index for `condenser-evaluate --index faiss`.
extras["faiss"] = ["faiss-cpu>=1.8"]
extras["all"] = sorted(
    set(extras["pretraining"] + extras["evaluation"] + extras["sentence-transformers"] + extras["faiss"])
)
extras["testing"] = ["pytest>=8", "pytest-xdist>=3", "parameterized>=0.9", "hypothesis>=6"]
extras["quality"] = ["ruff>=0.15"]
extras["dev"] = extras["all"] + extras["testing"] + extras["quality"]

setup(
    name="transformers-condenser",
    version=VERSION,
    description="Condenser and coCondenser dense-retrieval pre-training for Hugging Face transformers",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    keywords="dense retrieval pre-training condenser cocondenser bert transformers",
    package_dir={"": "src"},
    packages=find_packages("src"),
    python_requires=">=3.11",
    install_requires=install_requires,
    extras_require=extras,
    entry_points={
        "console_scripts": [
            "condenser-demo=transformers_condenser.demo:main",
            "condenser-prepare=transformers_condenser.data:prepare_main",
            "condenser-pretrain=transformers_condenser.pretrain:main",
            "condenser-convert-original=transformers_condenser.conversion:convert_main",
            "condenser-export-bert=transformers_condenser.conversion:export_main",
            "condenser-export-backbone=transformers_condenser.conversion:export_backbone_main",
            "condenser-model-card=transformers_condenser.model_card:main",
            "condenser-evaluate=transformers_condenser.beir_evaluation:main",
        ]
    },
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Science/Research",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
