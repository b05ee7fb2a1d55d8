"""Quality metrics measured against the real evaluation sets under ``Settings().data_dir``."""
