"""The ``plot_*`` rules: figures of the report.

- :mod:`.plots`       seaborn figures (learning curves, test accuracy, heatmap, runtime, ...)
- :mod:`.comparison`  the paired-difference figure
- :mod:`.gallery`     galleries of proxy images and CAMs
- :mod:`.tensorboard` optional TensorBoard event files
"""
