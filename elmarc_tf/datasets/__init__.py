"""Where the clips of an experiment are and what their labels are.

Every adapter returns a list of :class:`Item` (path, label, id, and the split or fold when the
dataset defines one). Listed files that do not exist and labels that cannot be mapped raise
:class:`~elmarc_tf.errors.ConfigError` before any work starts.
"""

from __future__ import annotations

from .base import AUDIO_EXTENSIONS, Item, folder_per_class, from_list_file, items_from_config

__all__ = ["Item", "AUDIO_EXTENSIONS", "folder_per_class", "from_list_file", "items_from_config"]
