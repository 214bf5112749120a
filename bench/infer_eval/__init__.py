"""Quality of ``add(infer=True)`` on LoCoMo, per add mode (issue 19): see ``bench_infer_eval.py``."""
