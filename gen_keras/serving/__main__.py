"""`python -m gen_keras.serving …`: the TF Serving client (`gen_keras.serving.client`)."""

import sys

from gen_keras.serving.client import main

sys.exit(main())
