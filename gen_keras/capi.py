"""`python -m gen_keras.capi …`: runs an export through TensorFlow's C API; its code is `gen_keras.serving.capi`."""

import sys

from gen_keras.serving.capi import main

if __name__ == "__main__":
    sys.exit(main())
