"""Command-line programs: flags -> a frozen config -> one library call.

Importing this package first quiets TensorFlow's start-up: the C++ log lines it
prints while loading (oneDNN notes, CUDA probing on machines without a GPU) are
dropped, and later C++ messages below ERROR are filtered unless
TF_CPP_MIN_LOG_LEVEL is set. Python warnings and errors are untouched.
"""

from runners import quiet_start

quiet_start.import_tensorflow_quietly()
