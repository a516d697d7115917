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
"""Convert a checkpoint of the original Condenser / coCondenser code into a Condenser checkpoint.

Usage: `python utils/convert_original_condenser_checkpoint.py --input_dir ORIGINAL --output_dir CONVERTED
[--skip_from 6] [--allow-missing-head]`. The work is done by
`transformers_condenser.conversion.convert_original_checkpoint`; run with `--help` for every flag.
"""

import sys

from transformers_condenser.conversion import convert_main


if __name__ == "__main__":
    sys.exit(convert_main())
