"""torch versions of the heaviest loops of quba.metrics, for the engine: the same passes on all CPU
cores or on the run's GPU. quba.metrics stays numpy (its functions are the reference); each kernel
here is checked equal to its reference to float rounding (tests/engine/test_engine_core.py)."""
