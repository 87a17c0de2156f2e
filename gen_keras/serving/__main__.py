"""`python -m gen_keras.serving …`: the TF Serving client's command (`gen_keras.serve`)."""

import sys

from gen_keras.serve import main

sys.exit(main())
