"""Audio and files: decoding and resampling (``audio``, ``resample``), the decoded-audio cache
(``audio_cache``), atomic writes, locks and versions (``fileio``).
"""
