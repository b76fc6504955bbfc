"""Results on disk: one JSON record per evaluation, leaderboards generated from them.

Layout under an output folder (default `results/`)::

    <output>/<suite>/records/<model>.json   one record per model (records.py)
    <output>/<suite>/leaderboard.csv        regenerated from the records (leaderboard.py)

What a record holds, its version and its validation: schema.py (`make_record` builds every record).
"""
from quba.store.leaderboard import leaderboard_frame, write_leaderboard
from quba.store.records import load_records, read_record, record_path, write_record
from quba.store.schema import make_record

__all__ = ["leaderboard_frame", "load_records", "make_record", "read_record", "record_path", "write_leaderboard",
           "write_record"]
