"""Files -> features on disk: the tf.data pipeline (``pipeline``), batch sizes (``batching``), the
feature store (``store``), the engines (``extract`` locally, ``ray`` on a Ray cluster, ``ray_cluster``).
"""
