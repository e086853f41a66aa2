"""The proxy step (run by rule ``train_proxy`` before its round): misclassified training images -> CAMs -> proxy images on disk.

- :mod:`.selection`   which of the misclassified training images a step edits (the search itself is
  recorded by the training job: :mod:`proxy_attention.train.predictions`)
- :mod:`.replacement` the proxy pixel formulas (``where(cam >= t, (1 - w) * cam * x, x)`` and variants)
- :mod:`.step`        one proxy step end to end (``ProxySettings``, ``run_proxy_step``)
- :mod:`.job`         the step as the ``train_proxy`` job runs it, from the fold's split and image cache
- :mod:`.controls`    the controls' extra images (matched baseline, replay, random location)

CAMs come from :mod:`proxy_attention.cams` (shared with training's CAM arms, explain and predict).
"""
