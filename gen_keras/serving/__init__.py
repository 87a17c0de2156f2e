"""Serving: exports in TF Serving's layout and everything that reads or runs them.

- `export`: `export_for_serving` (one model as the next version of `<root>/<recipe>/<part>/`), `export_signatures`
  (several named signatures such as `log_prob` and `sample`, with scalars, loops and input checks),
  `export_parts`, warm-up records, `models.config`;
- `signatures`: tensor names, dtypes and shapes of a signature, and its inputs' defaults (numpy only);
- `reader`: an export read back in Python: its signatures' specs, what each is (generator, `sample`,
  `log_prob`, …) and the recipe's metadata, for `python -m gen_keras.evaluate`;
- `wire`: pure-Python readers of an export's protobuf and TFRecord files;
- `capi`: `SavedModelSession`, TensorFlow's C++ loader through its C API, as TF Serving loads a version;
- `client`: a REST/gRPC client for a running TF Serving (its command line: `python -m gen_keras.serve`).
"""
