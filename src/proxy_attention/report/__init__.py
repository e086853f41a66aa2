"""The ``plot_*`` rules: figures of the report.

- :mod:`.plots`       seaborn figures (learning curves, test accuracy, heatmap, runtime, ...)
- :mod:`.comparison`  the paired-difference figure
- :mod:`.gallery`     galleries of proxy images and CAMs
- :mod:`.tensorboard` optional TensorBoard event files
- :mod:`.arms`        the augmentation arms' figure; :mod:`.augment_gallery` one batch under each arm
- :mod:`.staleness`   whether the report's runs match the current config
"""
