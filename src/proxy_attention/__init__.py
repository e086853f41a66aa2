"""Proxy Attention: CAM-guided augmentation of misclassified training images.

The package holds the logic; ``workflow/`` wires it into a Snakemake pipeline.
Modules have one job each:

- :mod:`proxy_attention.atomic`     write files and folders atomically
- :mod:`proxy_attention.schedule`   parse ``[2, p, 2, p, 2]`` schedules
- :mod:`proxy_attention.digits`     export scikit-learn's bundled digits as an image folder
- :mod:`proxy_attention.index`      index an image folder, validate its images
- :mod:`proxy_attention.split`      held-out test split plus stratified k-fold
- :mod:`proxy_attention.imagecache` decoded-image cache (uint8 array on disk)
- :mod:`proxy_attention.models`     timm models, checkpoints, CAM target layers
- :mod:`proxy_attention.cams`       batched CAMs with pytorch-grad-cam
- :mod:`proxy_attention.replacement` proxy pixel replacement formulas
- :mod:`proxy_attention.proxy`      one proxy step: wrong images -> CAMs -> proxy PNGs
- :mod:`proxy_attention.train`      resumable training rounds and evaluation
- :mod:`proxy_attention.aggregate`  tidy tables of all runs
- :mod:`proxy_attention.plots`      seaborn figures for the report
"""

__version__ = "0.1.0"
