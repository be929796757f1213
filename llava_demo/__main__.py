"""`python -m llava_demo train|eval`."""

import sys

from llava_demo.cli import main

sys.exit(main())
