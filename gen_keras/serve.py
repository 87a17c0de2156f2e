"""`python -m gen_keras.serve …`: the TF Serving client's command; its code is `gen_keras.serving.client`."""

import sys

from gen_keras.serving.client import main

if __name__ == "__main__":
    sys.exit(main())
