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
"""Export a Condenser checkpoint's backbone as a plain checkpoint of its own family (BERT, RoBERTa or XLM-RoBERTa)
that stock transformers loads without the plugin.

Usage: `python utils/export_condenser_backbone.py --input_dir CONDENSER --output_dir PLAIN [--no-mlm-head]`. The work
is done by `transformers_condenser.conversion.export_backbone`; run with `--help` for every flag.
"""

import sys

from transformers_condenser.conversion import export_backbone_main


if __name__ == "__main__":
    sys.exit(export_backbone_main())
