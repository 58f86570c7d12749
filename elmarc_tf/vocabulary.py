"""The vocabularies of the config's keys, each defined here once.

A module of its own (below the config and the front-ends) so that every module that checks a
value — the config, the audio and log-mel code, the front-end families — reads the same tuple.
"""

# features_type -> the front-end it names (None: the one `architecture` names).
FEATURES_TYPES = {"CNN": None, "MFCC": "mfcc"}
SIGNALS = ("spectrogram", "waveform")
FIX_LENGTH_MODES = ("crop", "zero-pad", "repeat-pad")
MODEL_TYPES = ("SVM", "linearSVM", "ELM", "MLP", "KNN", "linear")  # elmarc_tf.evaluation.classifiers builds each
RES_TYPES = ("soxr_hq", "kaiser_best", "soxr_vhq", "soxr_mq", "kaiser_fast", "polyphase", "fft")
PAD_MODES = ("reflect", "constant")
BACKEND_TAPS = ("original", "per_channel")
BATCH_NORM_POSITIONS = ("before_elu", "after_elu")
PROTOCOLS = ("predefined_split", "stratified_kfold", "predefined_folds")
# The LEAF family (elmarc_tf.frontends.leaf): what a spectrogram front-end's input is computed by
# ("logmel": the authors' log-mel), and how a parametric filterbank is initialised.
INPUT_REPRESENTATIONS = ("logmel", "leaf", "pcen_mel", "sincnet", "sincnet_plus", "tdfbanks",
                         "mel_tf")
FILTERBANK_INITS = ("mel", "random")
