"""`quba sweep`: many models through the engine as one resumable, fault-isolated job.

driver.py   input checks, planning (skipped / up to date / to run), the submit-wait loop, the summary
executors.py  local process pools, Ray, submitit (SLURM) behind one interface
task.py     what a worker runs for one model (or one split of it); never raises
state.py    sweep.json (under a filelock) and failures/<model>.json
"""
